-- Alerts (config/alerts.toml): the outbox. A rule alerts once per story: the writer inserts the
-- alert and one delivery per channel, pending, in the same transaction as the articles that
-- raised it; delivery happens after that commit and records each outcome, so a crash in between
-- leaves the alert pending (delivered at the next start) and never sends it twice.
CREATE SEQUENCE alert_id_seq START 1;

CREATE TABLE alerts (
    id              BIGINT PRIMARY KEY DEFAULT nextval('alert_id_seq'),
    rule            VARCHAR NOT NULL,              -- the rule's name in alerts.toml
    story_id        BIGINT NOT NULL,
    article_id      BIGINT NOT NULL,               -- the report that raised it
    created_at      TIMESTAMPTZ NOT NULL,
    title           VARCHAR,
    url             VARCHAR,
    source_name     VARCHAR,
    evidence        VARCHAR NOT NULL,              -- JSON: what matched (entities, topics, story growth)
    status          VARCHAR NOT NULL DEFAULT 'pending',  -- pending|sent|failed, over its deliveries
    attempts        INTEGER NOT NULL DEFAULT 0,    -- most tries of any of its deliveries
    last_error      VARCHAR,
    next_attempt_at TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    UNIQUE (rule, story_id)
);

-- One row per alert and channel: each is delivered, retried and recorded on its own.
CREATE TABLE alert_deliveries (
    alert_id        BIGINT NOT NULL,
    channel         VARCHAR NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'pending',  -- pending|sent|failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      VARCHAR,
    next_attempt_at TIMESTAMPTZ,                   -- NULL: due now
    sent_at         TIMESTAMPTZ,
    PRIMARY KEY (alert_id, channel)
);

-- Articles a rule with a saved-search condition still has to check: the rest of the rule held,
-- the search is asked once the batch is committed (and again after a crash).
CREATE TABLE alert_checks (
    rule       VARCHAR NOT NULL,
    article_id BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rule, article_id)
);
