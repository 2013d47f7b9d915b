-- The tables every ingest batch appends to (articles, their three vector tables, their topics,
-- watchlist mentions and full-text documents) lose their keys and indexes; the single writer keeps
-- them unique, as it always has (ids are assigned by it; a known canonical URL is looked up before
-- an article is stored; an article's topics, mentions and terms are replaced, never added twice).
--
-- Why: every write closes the file, and the close is a checkpoint, which every reader waits
-- for: each page of the reading room, `newswatch sql`, an analyst's `duckdb -readonly`. On a
-- warehouse of 100,000 articles (DuckDB 1.5), a batch of 32 articles held the file about 5.3 s
-- while these tables had keys or indexes (declared as constraints or as unique indexes alike: the
-- checkpoint then writes far more than the rows appended, vectors and texts included); about
-- 0.35 s with the articles and vector tables without them, and 0.25 s with all seven. Lookups by
-- id or date read few row groups without an index: ids and arrival times grow with storage
-- order, so DuckDB's min/max per segment skips the rest (see pipeline/store/sqlvalues.py).
--
-- DuckDB cannot drop a key constraint in place, so each table is copied into one without it,
-- then swapped in (views name tables, not their storage, and read the copy).

CREATE TABLE articles_0013 (
    id                   BIGINT NOT NULL,           -- assigned by the single writer, in arrival order
    source               VARCHAR NOT NULL CHECK (source IN ('seed', 'feed')),
    feed_id              INTEGER,
    url                  VARCHAR NOT NULL,
    canonical_url        VARCHAR,
    guid                 VARCHAR,
    entry_key            VARCHAR,
    title                VARCHAR NOT NULL,
    author               VARCHAR,
    published_at         TIMESTAMPTZ,
    fetched_at           TIMESTAMPTZ NOT NULL,
    lang                 VARCHAR,
    site_name            VARCHAR,
    description          VARCHAR,
    text                 VARCHAR NOT NULL,
    text_source          VARCHAR NOT NULL CHECK (text_source IN ('page', 'feed', 'file')),
    text_source_reason   VARCHAR,                  -- why the feed's text was kept, or how the page won
    content_hash         VARCHAR NOT NULL,
    word_count           INTEGER NOT NULL,
    duplicate_of         BIGINT,                   -- earliest original (possibly a seed); NULL if original
    duplicate_similarity DOUBLE,
    duplicate_kind       VARCHAR,                  -- url|hash|near|contained|contains
    story_id             BIGINT,                   -- id of the story's first article
    relevance            DOUBLE NOT NULL DEFAULT 0, -- similarity to the seed corpus, 0..1
    on_topic             BOOLEAN NOT NULL DEFAULT TRUE, -- has a topic or relevance >= [topics] min_relevance
    seed_file_hash       VARCHAR,                  -- seeds: sha256 of the file, to notice edits
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    story_evidence       VARCHAR,                  -- see 0007_stories.sql
    archive_source       VARCHAR,                  -- see 0009_backfill.sql
    archive_record_id    VARCHAR
);
INSERT INTO articles_0013 BY NAME SELECT * FROM articles;
DROP TABLE articles;
ALTER TABLE articles_0013 RENAME TO articles;

CREATE TABLE embeddings_0013 (
    article_id   BIGINT NOT NULL,
    model        VARCHAR NOT NULL,
    dim          INTEGER NOT NULL,
    chunks       INTEGER NOT NULL,
    vector       FLOAT[] NOT NULL,
    title_vector FLOAT[]
);
INSERT INTO embeddings_0013 BY NAME SELECT * FROM embeddings;
DROP TABLE embeddings;
ALTER TABLE embeddings_0013 RENAME TO embeddings;

CREATE TABLE chunk_embeddings_0013 (
    article_id BIGINT NOT NULL,
    chunk_no   INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char   INTEGER NOT NULL,
    model      VARCHAR NOT NULL,
    vector     FLOAT[] NOT NULL
);
INSERT INTO chunk_embeddings_0013 BY NAME SELECT * FROM chunk_embeddings;
DROP TABLE chunk_embeddings;
ALTER TABLE chunk_embeddings_0013 RENAME TO chunk_embeddings;

CREATE TABLE lead_embeddings_0013 (
    article_id BIGINT NOT NULL,
    model      VARCHAR NOT NULL,
    lang       VARCHAR,
    vector     FLOAT[] NOT NULL
);
INSERT INTO lead_embeddings_0013 BY NAME SELECT * FROM lead_embeddings;
DROP TABLE lead_embeddings;
ALTER TABLE lead_embeddings_0013 RENAME TO lead_embeddings;

CREATE TABLE article_topics_0013 (
    article_id    BIGINT NOT NULL,
    topic         VARCHAR NOT NULL,
    score         DOUBLE NOT NULL,
    evidence      VARCHAR NOT NULL,                -- JSON: matched terms, best passage, parts of the score
    matched_terms VARCHAR[] NOT NULL DEFAULT [],
    passage       VARCHAR                          -- best passage, at most 300 characters
);
INSERT INTO article_topics_0013 BY NAME SELECT * FROM article_topics;
DROP TABLE article_topics;
ALTER TABLE article_topics_0013 RENAME TO article_topics;

CREATE TABLE article_entities_0013 (
    article_id   BIGINT NOT NULL,
    entity       VARCHAR NOT NULL,                 -- the entity's name in watchlist.toml
    mentions     INTEGER NOT NULL,                 -- in title and text
    first_offset INTEGER,                          -- character offset of the first mention in
                                                   -- articles.text; NULL: named in the title only
    evidence     VARCHAR NOT NULL,                 -- the words around the first mention
    aliases      VARCHAR[] NOT NULL DEFAULT []     -- the spellings found, as the watchlist writes them
);
INSERT INTO article_entities_0013 BY NAME SELECT * FROM article_entities;
DROP TABLE article_entities;
ALTER TABLE article_entities_0013 RENAME TO article_entities;

CREATE TABLE search_docs_0013 (
    article_id BIGINT NOT NULL,
    terms      INTEGER NOT NULL,
    analyzer   VARCHAR NOT NULL,                   -- tokenizer version that produced the terms
    compacted  BOOLEAN NOT NULL DEFAULT FALSE      -- its terms sit in the term-sorted part
);
INSERT INTO search_docs_0013 BY NAME SELECT * FROM search_docs;
DROP TABLE search_docs;
ALTER TABLE search_docs_0013 RENAME TO search_docs;
