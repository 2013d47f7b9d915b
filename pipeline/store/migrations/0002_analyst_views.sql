-- Views for analysts: what to read, how much of it, and which feeds are broken.

-- News worth reading: feed articles that are not copies and are on-topic, with their topics.
CREATE VIEW relevant_articles AS
SELECT a.id,
       coalesce(a.published_at, a.fetched_at) AS published_at,
       a.title,
       a.url,
       coalesce(a.site_name, f.title) AS source_name,
       a.relevance,
       a.story_id,
       coalesce(list(t.topic ORDER BY t.score DESC) FILTER (WHERE t.topic IS NOT NULL), [])
           AS topics,
       max(t.score) AS top_score,
       a.text_source,
       a.lang
FROM articles a
LEFT JOIN article_topics t ON t.article_id = a.id
LEFT JOIN feeds f ON f.id = a.feed_id
WHERE a.source = 'feed' AND a.duplicate_of IS NULL AND a.on_topic
GROUP BY ALL;

-- Articles and distinct stories per topic and ISO week (copies left out).
CREATE VIEW weekly_topic_counts AS
SELECT strftime(coalesce(a.published_at, a.fetched_at), '%G-W%V') AS iso_week,
       t.topic,
       count(*) AS articles,
       count(DISTINCT coalesce(a.story_id, a.id)) AS stories
FROM articles a
JOIN article_topics t ON t.article_id = a.id
WHERE a.source = 'feed' AND a.duplicate_of IS NULL
GROUP BY ALL
ORDER BY iso_week DESC, t.topic;

-- Each copy beside the original it repeats: "also reported by".
CREATE VIEW duplicates AS
SELECT d.id AS duplicate_id,
       d.title AS duplicate_title,
       d.url AS duplicate_url,
       d.duplicate_kind,
       d.duplicate_similarity,
       o.id AS original_id,
       o.title AS original_title,
       o.url AS original_url,
       o.source AS original_source
FROM articles d
JOIN articles o ON o.id = d.duplicate_of;

-- One line per feed: is it healthy, and when is it polled next.
CREATE VIEW feed_health AS
SELECT f.id,
       f.title,
       f.url,
       CASE WHEN NOT f.enabled THEN 'disabled'
            WHEN f.last_polled_at IS NULL THEN 'new'
            WHEN f.error_count > 0 THEN 'failing'
            ELSE 'healthy' END AS health,
       f.error_count,
       f.last_error_kind,
       f.last_error,
       f.last_http_status,
       f.last_polled_at,
       f.last_success_at,
       f.next_poll_at,
       f.disabled_reason,
       f.in_config
FROM feeds f;
