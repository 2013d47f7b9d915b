-- Full-text search: a term table the single writer keeps current in the same transaction as the
-- articles (DuckDB's fts index is not updated by inserts; rebuilding it costs seconds per
-- thousand articles). BM25 is computed in SQL over these two tables (pipeline/store/search_store.py);
-- any DuckDB client can read them without an extension.

-- One row per indexed article: its length in terms (title terms counted `title_weight` times).
CREATE TABLE search_docs (
    article_id BIGINT PRIMARY KEY,
    terms      INTEGER NOT NULL,
    analyzer   VARCHAR NOT NULL,                   -- tokenizer version that produced the terms
    compacted  BOOLEAN NOT NULL DEFAULT FALSE      -- its terms sit in the term-sorted part
);

-- One row per (article, distinct term): how often the term occurs. Maintenance rewrites the table
-- sorted by term so that a query reads only the row groups holding its terms.
CREATE TABLE search_terms (
    article_id BIGINT NOT NULL,
    term       VARCHAR NOT NULL,                   -- normalised, stemmed (see pipeline/search/terms.py)
    tf         INTEGER NOT NULL
);
