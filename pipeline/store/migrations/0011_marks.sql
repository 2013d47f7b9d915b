-- Analysts' marks on articles and stories: what newswatch learns from. Never updated or deleted:
-- a later mark on the same thing replaces an earlier one (value NULL withdraws it), so the table
-- is the history and `current_marks` the state.
CREATE SEQUENCE mark_id_seq START 1;
CREATE TABLE marks (
    id             BIGINT PRIMARY KEY DEFAULT nextval('mark_id_seq'),
    kind           VARCHAR NOT NULL CHECK (kind IN ('topic', 'off_theme', 'split', 'merge')),
    article_id     BIGINT,            -- topic, off_theme, split: the article marked
    topic          VARCHAR,           -- topic: the topic's slug
    story_id       BIGINT,            -- split: the story the article leaves; merge: one story
    other_story_id BIGINT,            -- merge: the other story
    value          BOOLEAN,           -- topic: is about it (true) or not; off_theme, split,
                                      -- merge: true; NULL: an earlier mark withdrawn
    marked_by      VARCHAR NOT NULL,  -- who: the login user of the CLI, or the reading room's
    via            VARCHAR NOT NULL,  -- 'cli' or 'web'
    marked_at      TIMESTAMPTZ NOT NULL,
    tagger         VARCHAR,           -- the tagger that had decided when the mark was made
    seen_score     DOUBLE,            -- topic: the score the article had for it then
    request_id     VARCHAR UNIQUE     -- a form's one-time id: a double submit is recorded once
);
CREATE INDEX marks_article ON marks (article_id);

-- The marks in force: the latest mark of each thing marked, withdrawn ones left out.
CREATE VIEW current_marks AS
SELECT * EXCLUDE (rn) FROM (
    SELECT m.*, row_number() OVER (
        PARTITION BY m.kind, m.article_id, m.topic, least(m.story_id, m.other_story_id),
                     greatest(m.story_id, m.other_story_id)
        ORDER BY m.id DESC) AS rn
    FROM marks m
) WHERE rn = 1 AND value IS NOT NULL;
