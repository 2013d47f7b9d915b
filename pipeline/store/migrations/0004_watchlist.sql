-- Watchlist entities (config/watchlist.toml) found in each article, written by the single writer
-- in the same transaction as the article; `newswatch retag` rewrites them after the file changes.
CREATE TABLE article_entities (
    article_id   BIGINT NOT NULL,
    entity       VARCHAR NOT NULL,                 -- the entity's name in watchlist.toml
    mentions     INTEGER NOT NULL,                 -- in title and text
    first_offset INTEGER,                          -- character offset of the first mention in
                                                   -- articles.text; NULL: named in the title only
    evidence     VARCHAR NOT NULL,                 -- the words around the first mention
    aliases      VARCHAR[] NOT NULL DEFAULT [],    -- the spellings found, as the watchlist writes them
    PRIMARY KEY (article_id, entity)
);

-- Articles and distinct stories naming each entity per ISO week (copies left out, like
-- weekly_topic_counts).
CREATE VIEW weekly_entity_counts AS
SELECT strftime(coalesce(a.published_at, a.fetched_at), '%G-W%V') AS iso_week,
       e.entity,
       count(*) AS articles,
       count(DISTINCT coalesce(a.story_id, a.id)) AS stories,
       sum(e.mentions) AS mentions
FROM article_entities e
JOIN articles a ON a.id = e.article_id
WHERE a.source = 'feed' AND a.duplicate_of IS NULL
GROUP BY ALL
ORDER BY iso_week DESC, articles DESC, e.entity;
