-- Backfill from web archives (WARC files). Archive articles keep source = 'feed' (the views,
-- the digest, alerts and the export select news articles by it) with feed_id NULL; which archive
-- file and record each came from is said by two new columns. DuckDB cannot alter a CHECK
-- constraint in place: widening articles.source would mean copying the table under every view.

ALTER TABLE articles ADD COLUMN archive_source VARCHAR;     -- WARC file (path or URL); NULL: not from an archive
ALTER TABLE articles ADD COLUMN archive_record_id VARCHAR;  -- its WARC-Record-ID

-- One row per archive file a backfill finished (status 'done': skipped by later runs while
-- its size, version and fingerprint are unchanged) or could not read (status 'failed': retried).
CREATE TABLE backfill_sources (
    path         VARCHAR PRIMARY KEY,      -- as given or listed: a local path or a URL
    size         BIGINT,
    version      VARCHAR,                  -- mtime (local files) or ETag / last-modified (remote)
    fingerprint  VARCHAR,                  -- sha256 of the first and last 64 KiB
    status       VARCHAR NOT NULL,         -- done|failed
    records      INTEGER NOT NULL DEFAULT 0,
    html_pages   INTEGER NOT NULL DEFAULT 0,
    extracted    INTEGER NOT NULL DEFAULT 0,
    passed       INTEGER NOT NULL DEFAULT 0,
    stored       INTEGER NOT NULL DEFAULT 0,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    bad_records  INTEGER NOT NULL DEFAULT 0,   -- truncated or unreadable records skipped
    error        VARCHAR,
    finished_at  TIMESTAMPTZ NOT NULL
);
