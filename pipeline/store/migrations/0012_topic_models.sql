-- The learned part of topics: one row per trained version of a topic's model (and of the theme's,
-- topic '_theme', learned from off-theme marks). Never updated: training again adds a version,
-- and the newest version of a topic is the one applied. A version trained from no marks (every
-- mark withdrawn) has no parameters: the topic is back to its rule.
CREATE TABLE topic_models (
    topic       VARCHAR NOT NULL,   -- the topic's slug, or '_theme'
    version     INTEGER NOT NULL,   -- 1, 2, ... per topic
    trained_at  TIMESTAMPTZ NOT NULL,
    marks       INTEGER NOT NULL,   -- marks in force it learned from
    yes         INTEGER NOT NULL,   -- of which: is about it (theme: is off the theme)
    no          INTEGER NOT NULL,   --           is not
    last_mark   BIGINT NOT NULL,    -- the newest mark on the topic when trained: a later one
                                    -- means the marks changed
    learner     VARCHAR NOT NULL,   -- pipeline/tag/learned.py LEARNER, or 'none'
    parameters  BLOB,               -- the model (NumPy arrays, pipeline/tag/learned.py dump)
    figures     VARCHAR,            -- JSON: threshold, CV agreement, training seconds, ...
    PRIMARY KEY (topic, version)
);
