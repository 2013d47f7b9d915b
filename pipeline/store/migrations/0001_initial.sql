-- The public contract: feeds, feed_polls, articles, article_topics, embeddings, runs, digests.
-- Times are TIMESTAMPTZ (stored as UTC instants). Vectors are FLOAT[] lists with their model's
-- name and dimension beside them, so a different model never mixes silently with the default.

CREATE SEQUENCE feed_id_seq START 1;
CREATE SEQUENCE feed_poll_id_seq START 1;
CREATE SEQUENCE run_id_seq START 1;

CREATE TABLE feeds (
    id              INTEGER PRIMARY KEY DEFAULT nextval('feed_id_seq'),
    url             VARCHAR NOT NULL UNIQUE,       -- effective URL (follows permanent redirects)
    config_url      VARCHAR NOT NULL UNIQUE,       -- URL as written in feeds.toml / given on the CLI
    title           VARCHAR,
    tags            VARCHAR[] NOT NULL DEFAULT [],
    interval_s      INTEGER,                       -- NULL: [feeds] default_interval_s
    in_config       BOOLEAN NOT NULL DEFAULT TRUE, -- listed in feeds.toml (else polled only on demand)
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason VARCHAR,
    etag            VARCHAR,
    last_modified   VARCHAR,
    body_hash       VARCHAR,                       -- sha256 of the last body parsed
    last_polled_at  TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    next_poll_at    TIMESTAMPTZ,
    error_count     INTEGER NOT NULL DEFAULT 0,    -- consecutive failures; reset by a success
    last_error      VARCHAR,
    last_error_kind VARCHAR,                       -- dns|connect|timeout|tls|http_4xx|http_5xx|too_large|parse|...
    last_status     VARCHAR,                       -- ok|not_modified|unchanged|error|gone
    last_http_status INTEGER,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE feed_polls (
    id            BIGINT PRIMARY KEY DEFAULT nextval('feed_poll_id_seq'),
    feed_id       INTEGER NOT NULL,
    polled_at     TIMESTAMPTZ NOT NULL,
    status        VARCHAR NOT NULL,                -- ok|not_modified|unchanged|error|gone
    http_status   INTEGER,
    bytes         BIGINT NOT NULL DEFAULT 0,
    entries       INTEGER NOT NULL DEFAULT 0,
    new_entries   INTEGER NOT NULL DEFAULT 0,
    error_kind    VARCHAR,
    error_message VARCHAR,
    duration_ms   INTEGER
);
CREATE INDEX feed_polls_feed_time ON feed_polls (feed_id, polled_at);

CREATE TABLE articles (
    id                   BIGINT PRIMARY KEY,        -- assigned by the single writer, in arrival order
    source               VARCHAR NOT NULL CHECK (source IN ('seed', 'feed')),
    feed_id              INTEGER,
    url                  VARCHAR NOT NULL,
    canonical_url        VARCHAR UNIQUE,
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
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX articles_content_hash ON articles (content_hash);
CREATE INDEX articles_published ON articles (published_at);

-- Every entry seen in a feed, so unchanged feeds never cost a page fetch again, also when two
-- feeds carry the same article.
CREATE TABLE feed_entries (
    feed_id       INTEGER NOT NULL,
    entry_key     VARCHAR NOT NULL,
    canonical_url VARCHAR,
    article_id    BIGINT,
    first_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (feed_id, entry_key)
);

CREATE TABLE article_topics (
    article_id    BIGINT NOT NULL,
    topic         VARCHAR NOT NULL,
    score         DOUBLE NOT NULL,
    evidence      VARCHAR NOT NULL,                -- JSON: matched terms, best passage, parts of the score
    matched_terms VARCHAR[] NOT NULL DEFAULT [],
    passage       VARCHAR,                         -- best passage, at most 300 characters
    PRIMARY KEY (article_id, topic)
);

-- The article vector: a pooling of its chunk vectors (see pipeline/embed.py).
CREATE TABLE embeddings (
    article_id BIGINT PRIMARY KEY,
    model      VARCHAR NOT NULL,
    dim        INTEGER NOT NULL,
    chunks     INTEGER NOT NULL,
    vector     FLOAT[] NOT NULL
);

-- One vector per overlapping chunk of at most the model's window of word pieces.
CREATE TABLE chunk_embeddings (
    article_id BIGINT NOT NULL,
    chunk_no   INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char   INTEGER NOT NULL,
    model      VARCHAR NOT NULL,
    vector     FLOAT[] NOT NULL,
    PRIMARY KEY (article_id, chunk_no)
);

CREATE TABLE runs (
    id          BIGINT PRIMARY KEY DEFAULT nextval('run_id_seq'),
    job         VARCHAR NOT NULL,                  -- ingest|digest|maintenance|init|retag|dedup
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,                  -- running|ok|error|interrupted
    counts      VARCHAR,                           -- JSON object of the job's counts
    error       VARCHAR,
    pid         INTEGER,
    host        VARCHAR
);

CREATE TABLE digests (
    week        VARCHAR PRIMARY KEY,               -- ISO week, e.g. 2026-W47
    status      VARCHAR NOT NULL,                  -- sent|written|failed|skipped_empty
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ,
    message_id  VARCHAR,
    subject     VARCHAR,
    recipients  VARCHAR[],
    counts      VARCHAR,                           -- JSON: stories per topic
    error       VARCHAR
);
