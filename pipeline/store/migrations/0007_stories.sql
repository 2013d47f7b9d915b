-- Stories: why each article joined its story, merges that keep story ids stable, headline vectors.

-- Why the article is in its story: the rule that held, the article it held with, the scores
-- (JSON, written when the decision is made; `newswatch explain` shows it).
ALTER TABLE articles ADD COLUMN story_evidence VARCHAR;

-- The headline's vector (the same model as the text's): short texts are judged by it too.
ALTER TABLE embeddings ADD COLUMN title_vector FLOAT[];

-- One row per story folded into another by an article that held with both. `articles.story_id`
-- always names the surviving story; an id seen before a merge is found here.
CREATE TABLE story_merges (
    story_id    BIGINT PRIMARY KEY,     -- the story that no longer exists on its own
    merged_into BIGINT NOT NULL,        -- the story it was folded into at the time
    current_id  BIGINT NOT NULL,        -- the story it belongs to now (follows later merges)
    article_id  BIGINT NOT NULL,        -- the article whose evidence merged them
    merged_at   TIMESTAMPTZ NOT NULL,
    evidence    VARCHAR                 -- JSON: how the article held with both, how close they were
);

-- One row per story (merges followed): its size, its sources, its first and latest report.
CREATE VIEW stories AS
SELECT coalesce(a.story_id, a.id) AS story_id,
       arg_min(a.title, a.id) AS title,
       count(*) AS articles,
       count(*) FILTER (WHERE a.duplicate_of IS NULL) AS originals,
       count(DISTINCT coalesce(a.site_name, f.title, a.feed_id::VARCHAR)) AS sources,
       min(coalesce(a.published_at, a.fetched_at)) AS first_published,
       max(coalesce(a.published_at, a.fetched_at)) AS last_published,
       bool_or(a.source = 'seed') AS has_seed
FROM articles a
LEFT JOIN feeds f ON f.id = a.feed_id
GROUP BY ALL;
