"""Search tables: the term index the writer keeps current, BM25 and nearest chunks in SQL.

BM25 (k1, b as below; the idf of Lucene, always positive) is computed from `search_terms` for the
query's terms alone: document frequencies come from the same rows, so the index needs no global
statistics to update. Maintenance rewrites `search_terms` sorted by term (`compact`), so a query
reads only the row groups holding its terms plus the few written since.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.models import ArticleInfo, IndexedTerms, Phrase, SearchFilters, TextHit
from pipeline.store.db import Db
from pipeline.store.searchfilter import filter_sql
from pipeline.store.sqlvalues import id_list, id_match, story_articles
from pipeline.store.texts import texts

BM25_K1 = 1.2
BM25_B = 0.75


def write_terms(db: Db, terms: Mapping[int, IndexedTerms], *, replace: bool) -> None:
    """Index articles, replacing what they had if asked; call inside a transaction (new
    articles need no replacing, which spares a scan of the term table)."""
    ids = list(terms)
    if not ids:
        return
    if replace:
        delete_terms(db, ids)
    db.insert_columns(
        "search_docs",
        {
            "article_id": ids,
            "terms": [terms[i].length for i in ids],
            "analyzer": [terms[i].analyzer for i in ids],
            "compacted": [False] * len(ids),
        },
    )
    rows = [
        (aid, term, tf, list(terms[aid].positions.get(term, ())) or None)
        for aid in ids
        for term, tf in terms[aid].counts.items()
    ]
    if rows:
        db.insert_columns(
            "search_terms",
            {
                "article_id": [r[0] for r in rows],
                "term": [r[1] for r in rows],
                "tf": [r[2] for r in rows],
                "pos": [r[3] for r in rows],
            },
        )


def delete_terms(db: Db, ids: Sequence[int]) -> None:
    """Remove articles from the index (call inside a transaction)."""
    if not ids:
        return
    for table in ("search_terms", "search_docs"):
        db.execute(
            f"DELETE FROM {table} WHERE article_id IN (SELECT unnest(?::BIGINT[]))",
            [id_list(ids)],
        )


def unindexed(db: Db, analyzer: str, limit: int) -> list[tuple[int, str, str]]:
    """Up to `limit` articles missing from the index or indexed by another analyzer:
    (id, title, text)."""
    return db.rows(
        "SELECT a.id, a.title, a.text FROM articles a LEFT JOIN search_docs d "
        "ON d.article_id = a.id WHERE d.article_id IS NULL OR d.analyzer <> ? "
        "ORDER BY a.id LIMIT ?",
        [analyzer, limit],
    )


def count_unindexed(db: Db, analyzer: str) -> int:
    """How many articles the full-text index lacks (or holds from another analyzer)."""
    # Two counts answer the usual case (everything indexed) without joining the tables: the
    # writer keeps one index row per stored article, and drops it with the article.
    articles, current = db.one(
        "SELECT (SELECT count(*) FROM articles), "
        "(SELECT count(*) FROM search_docs WHERE analyzer = ?)",
        [analyzer],
    ) or (0, 0)
    if articles == current:
        return 0
    return int(
        db.scalar(
            "SELECT count(*) FROM articles a LEFT JOIN search_docs d ON d.article_id = a.id "
            "WHERE d.article_id IS NULL OR d.analyzer <> ?",
            [analyzer],
        )
        or 0
    )


def uncompacted(db: Db) -> int:
    """Articles indexed since the term table was last sorted."""
    return int(db.scalar("SELECT count(*) FROM search_docs WHERE NOT compacted") or 0)


def compact(db: Db) -> int:
    """Rewrite the term table sorted by term (call inside a transaction); returns its rows."""
    db.execute(
        "CREATE TABLE search_terms_sorted AS "
        "SELECT article_id, term, tf, pos FROM search_terms ORDER BY term, article_id"
    )
    db.execute("DROP TABLE search_terms")
    db.execute("ALTER TABLE search_terms_sorted RENAME TO search_terms")
    db.execute("UPDATE search_docs SET compacted = TRUE WHERE NOT compacted")
    return int(db.scalar("SELECT count(*) FROM search_terms") or 0)


#: Candidates of a phrase query read at a time, best first, before their texts are matched.
PHRASE_BLOCK = 400


@dataclass(frozen=True)
class TextRanking:
    """A BM25 ranking, and the document counts its idf came from: articles indexed, and how
    many hold each query term (a term no article holds is left out)."""

    hits: list[TextHit]
    documents: int = 0
    holding: dict[str, int] = field(default_factory=dict)


def text_ranking(
    db: Db,
    terms: Sequence[str],
    *,
    filters: SearchFilters = SearchFilters(),
    phrases: Sequence[Phrase] = (),
    depth: int = 100,
    also: Collection[int] = (),
) -> tuple[TextRanking, set[int]]:
    """Articles by BM25 of the query terms, best first, with the document counts of the terms
    (read by the same statement: a second look at the term table costs as much as the
    ranking's own); each phrase must occur in the title or text. Also which of the articles
    `also` (the meaning side's hits) hold every phrase: they are checked with the first
    candidates (every phrase held when there is none)."""
    if not terms:
        return TextRanking([]), phrases_present(db, sorted(also), phrases)
    sql, params = _bm25_sql(
        db, terms, filters, [list(dict.fromkeys(t for _, t in p.terms)) for p in phrases]
    )
    if not phrases:
        rows = db.rows(sql, params + [depth, 0])
        return _ranking(_hits(rows), rows), set(also)
    # The phrases are checked for the candidates holding their words, best first, a block at a
    # time (in one statement DuckDB would check every article holding the words first); the
    # meaning side's hits come along with the first block.
    hits: list[TextHit] = []
    pending, held = set(also), set()
    offset = 0
    block = max(PHRASE_BLOCK, 2 * depth)
    first: list[tuple] = []
    while len(hits) < depth:
        rows = db.rows(sql, params + [block, offset])
        first = first or rows
        keep = phrases_present(db, sorted({int(r[0]) for r in rows} | pending), phrases)
        held |= keep & pending
        pending = set()
        hits += [h for h in _hits(rows) if h.article_id in keep]
        if len(rows) < block:
            break
        offset += block
    return _ranking(hits[:depth], first), held


def _hits(rows: Sequence[tuple]) -> list[TextHit]:
    """The text hits of rows of the BM25 statement (each one's terms sorted here: an ordered
    list aggregate made DuckDB sort the terms of every article holding one, some 600,000 for a
    query at 1,000,000 articles, a quarter of the statement's time)."""
    return [TextHit(int(a), float(score), tuple(sorted(m))) for a, score, m, *_ in rows]


def _ranking(hits: list[TextHit], rows: Sequence[tuple]) -> TextRanking:
    """A ranking with its document counts, which every row of the BM25 statement carries."""
    if not rows:
        return TextRanking(hits)
    documents, holding = rows[0][3], rows[0][4]
    return TextRanking(hits, int(documents), {str(t): int(c) for t, c in holding.items()})


def _bm25_sql(
    db: Db, terms: Sequence[str], filters: SearchFilters, phrase_terms: Sequence[Sequence[str]]
) -> tuple[str, list[Any]]:
    """The BM25 ranking of articles holding the terms (and each phrase's words), passing the
    filters, with its parameters but the final LIMIT and OFFSET."""
    where, params = filter_sql(db, filters)
    conditions = [where]
    for words in phrase_terms:
        conditions.append("list_has_all(s.matched, ?::VARCHAR[])")
        params.append(list(words))
    sql = f"""
        WITH p AS (SELECT t.article_id, t.term, t.tf FROM search_terms t
                   WHERE t.term IN (SELECT unnest(?::VARCHAR[]))),
             st AS (SELECT count(*)::DOUBLE AS n, avg(terms)::DOUBLE AS avgdl FROM search_docs),
             df AS (SELECT term, count(*)::DOUBLE AS df FROM p GROUP BY term),
             s AS (SELECT p.article_id,
                          sum(ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5))
                              * p.tf * ({BM25_K1} + 1)
                              / (p.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * d.terms / st.avgdl)))
                              AS score,
                          list(p.term) AS matched
                   FROM p JOIN df USING (term) JOIN search_docs d USING (article_id) CROSS JOIN st
                   GROUP BY p.article_id)
        SELECT s.article_id, s.score, s.matched, (SELECT n FROM st),
               (SELECT map(list(term), list(df::BIGINT)) FROM df)
        FROM s JOIN articles a ON a.id = s.article_id
        WHERE {" AND ".join(conditions)}
        ORDER BY s.score DESC, s.article_id LIMIT ? OFFSET ?"""
    return sql, [list(terms), *params]


def count_articles(db: Db, filters: SearchFilters = SearchFilters()) -> int:
    """How many stored articles pass the filters."""
    where, params = filter_sql(db, filters)
    return int(db.scalar(f"SELECT count(*) FROM articles a WHERE {where}", params) or 0)


def passing_ids(db: Db, filters: SearchFilters) -> list[int]:
    """Every stored article that passes the filters, by id."""
    where, params = filter_sql(db, filters)
    return [
        int(r[0]) for r in db.rows(f"SELECT a.id FROM articles a WHERE {where} ORDER BY 1", params)
    ]


def terms_present(db: Db, ids: Sequence[int], terms: Sequence[str]) -> dict[int, set[str]]:
    """Which of these terms each of these articles holds (articles holding none are left out)."""
    if not ids or not terms:
        return {}
    found: dict[int, set[str]] = {}
    for aid, term in db.rows(
        "SELECT article_id, term FROM search_terms "
        "WHERE article_id IN (SELECT unnest(?::BIGINT[])) "
        "AND term IN (SELECT unnest(?::VARCHAR[]))",
        [id_list(ids), list(terms)],
    ):
        found.setdefault(int(aid), set()).add(term)
    return found


def phrases_present(
    db: Db, ids: Sequence[int], phrases: Sequence[Phrase], *, as_written: bool = False
) -> set[int]:
    """Which of these articles hold every phrase in the title or text: its terms (word stems)
    at their places, by the word positions of the term table. The text is read only where
    positions cannot tell: an article indexed without them (by an older analyzer), a phrase
    with a function word (its place is known, not its word), and, `as_written`, every phrase
    for the articles the positions keep (then the words' endings count too)."""
    if not ids or not phrases:
        return set(ids)
    held, unplaced = _phrases_by_position(db, ids, phrases)
    patterns = [p.pattern for p in phrases if as_written or not p.complete]
    if held and patterns:
        held = _matching(db, held, patterns)
    if unplaced:
        held |= _matching(db, unplaced, [p.pattern for p in phrases])
    return held


def _matching(db: Db, ids: set[int], patterns: Sequence[str]) -> set[int]:
    """Which of these articles' titles and texts match every pattern (Python's regular
    expressions), the texts read from the text store beside the warehouse where it holds them.
    DuckDB matched its own copies before, reading each text back from `articles`: for the 400
    candidates of a phrase at 1,000,000 articles 450 to 650 ms, 90 to 150 ms this way."""
    heads = {
        int(i): (str(title or ""), str(digest))
        for i, title, digest in db.rows(
            f"SELECT id, title, content_hash FROM articles WHERE {id_match('id', sorted(ids))}"
        )
    }
    found = texts(db, sorted(heads), {i: digest for i, (_, digest) in heads.items()})
    compiled = [re.compile(p) for p in patterns]
    return {
        i
        for i, (title, _) in heads.items()
        if all(c.search(f"{title}\n{found.get(i, '')}") for c in compiled)
    }


def _phrases_by_position(
    db: Db, ids: Sequence[int], phrases: Sequence[Phrase]
) -> tuple[set[int], set[int]]:
    """The articles whose positions hold every phrase, and those indexed without positions.

    A phrase starts at s in an article when each of its terms occurs at s plus its offset: the
    positions less the offsets, grouped by start, must count every term of the phrase.
    """
    wanted: list[Any] = []
    values = []
    for number, phrase in enumerate(phrases):
        for index, (offset, term) in enumerate(phrase.terms):
            values.append("(?::INTEGER, ?::INTEGER, ?::VARCHAR, ?::INTEGER, ?::INTEGER)")
            wanted += [number, index, term, offset, len(phrase.terms)]
    rows = db.rows(
        f"""
        WITH want(phrase, idx, term, off, n) AS (VALUES {", ".join(values)}),
             r AS (SELECT t.article_id, t.term, t.pos FROM search_terms t
                   WHERE t.term IN (SELECT term FROM want)
                     AND t.article_id IN (SELECT unnest(?::BIGINT[]))),
             starts AS (SELECT r.article_id, w.phrase, w.idx, w.n, unnest(r.pos) - w.off AS s
                        FROM r JOIN want w USING (term)),
             found AS (SELECT article_id, phrase FROM starts GROUP BY article_id, phrase, s
                       HAVING count(DISTINCT idx) = any_value(n))
        SELECT article_id, false FROM found GROUP BY article_id
        HAVING count(DISTINCT phrase) = ?
        UNION ALL
        SELECT DISTINCT article_id, true FROM r WHERE pos IS NULL""",
        wanted + [id_list(ids), len(phrases)],
    )
    return {int(a) for a, old in rows if not old}, {int(a) for a, old in rows if old}


def filtered_ids(db: Db, ids: Iterable[int], filters: SearchFilters) -> set[int]:
    """Which of these articles pass the filters."""
    ids = list(ids)
    if not ids:
        return set()
    where, params = filter_sql(db, filters)
    return {
        int(r[0])
        for r in db.rows(
            f"SELECT a.id FROM articles a WHERE {id_match('a.id', ids)} AND {where}",
            params,
        )
    }


def articles_info(db: Db, ids: Sequence[int]) -> dict[int, ArticleInfo]:
    """What results show of some articles, by id, but their texts ("": see
    `pipeline.store.articles.texts`, which their content hashes serve)."""
    if not ids:
        return {}
    rows = db.rows(
        "SELECT a.id, a.title, a.url, a.source, coalesce(a.site_name, f.title), "
        "coalesce(a.published_at, a.fetched_at), coalesce(a.story_id, a.id), a.duplicate_of, "
        "a.content_hash "
        f"FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id WHERE {id_match('a.id', ids)}"
    )
    return {
        int(r[0]): ArticleInfo(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], "", r[8])
        for r in rows
    }


def story_sizes(db: Db, story_ids: Sequence[int]) -> dict[int, int]:
    """Articles stored in each story (copies included)."""
    if not story_ids:
        return {}
    return {
        int(s): int(n)
        for s, n in db.rows(
            "SELECT coalesce(a.story_id, a.id) AS s, count(*) "
            f"FROM {story_articles(story_ids)} a GROUP BY s"
        )
    }


def index_stats(db: Db) -> dict[str, Any]:
    """Size of the index: articles, term rows, rows written since the last compaction."""
    docs, pending = db.one(
        "SELECT count(*), count(*) FILTER (WHERE NOT compacted) FROM search_docs"
    ) or (0, 0)
    return {
        "articles": int(docs),
        "uncompacted": int(pending),
        "term_rows": int(db.scalar("SELECT count(*) FROM search_terms") or 0),
    }
