"""One search: a query in, stories out, each with its best report and why it matched.

    query ──► analyse (terms, "phrases") ──► BM25 over title + text ─┐
          └─► embed (per vector source) ──► closest chunk per article ┴─► reciprocal rank fusion
          ──► fold by story ──► best passage, matched words, ranks

The query is embedded (`prepare`) before the warehouse is opened, so a read-only search holds
the file only while it reads. Quoted phrases are a full-text feature: in hybrid search every
result must contain them; meaning alone ignores the quotes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from pipeline.models import (
    ArticleInfo,
    MeaningHit,
    SearchFilters,
    SearchHit,
    StoryResult,
    TextHit,
)
from pipeline.search import savedindex, vectors
from pipeline.search.passages import best_passage
from pipeline.search.rank import fold, reciprocal_rank_fusion
from pipeline.search.terms import ParsedQuery, parse_query, phrase_pattern
from pipeline.store import articles as article_store
from pipeline.store import search as search_store
from pipeline.store import searchvectors as vector_store
from pipeline.store.db import Db

MODES = ("hybrid", "text", "meaning")
#: The vector table of multilingual leads (articles not in English).
CROSS_LINGUAL_TABLE = vector_store.LEAD_TABLE


class QueryEncoder(Protocol):
    """What a vector source needs of an embedder."""

    @property
    def model_name(self) -> str:
        """The name vectors of this model are stored under."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class VectorSource:
    """Vectors meaning is looked for in: a vector table and the encoder of its model.

    The chunk vectors of the English model, and (when cross-lingual linking is on) the
    multilingual title + lead vectors of articles in other languages, searched with the
    multilingual model's query side; `floor` is the least cosine a hit of this source needs."""

    table: str
    encoder: QueryEncoder
    floor: float = -1.0


@dataclass(frozen=True)
class Probe:
    """The query embedded for one vector source (and, for the chunks, its nearest ones in the
    index file beside the warehouse when they were looked up first: `look_ahead`)."""

    table: str
    model: str
    vector: np.ndarray
    floor: float = -1.0
    ahead: vectors.Ahead | None = None


@dataclass(frozen=True)
class PreparedQuery:
    """A query analysed and embedded, ready to run against the warehouse."""

    raw: str
    parsed: ParsedQuery
    probes: tuple[Probe, ...] = ()


@dataclass(frozen=True)
class SearchOptions:
    """How deep each ranking goes and how they are fused."""

    depth: int = 100  # articles taken from each ranking
    rrf_k: float = 60.0
    text_weight: float = 1.0
    meaning_weight: float = 1.0
    meaning_floor: float = 0.0  # found by meaning alone needs this cosine (English chunks)
    coverage_power: float = 2.0  # a text hit counts coverage ** power (see `coverage`)
    #: Meaning through the chunk vector index saved beside the warehouse (pipeline/search/
    #: vectors.py) when it holds this many chunks ([dedup] vector_index_min_rows; None: its
    #: default); False: always exactly.
    vector_index: bool = True
    vector_index_min_rows: int | None = None


@dataclass(frozen=True)
class SearchOutcome:
    """Stories found, best first, and the raw rankings behind them."""

    stories: tuple[StoryResult, ...]
    text_hits: tuple[TextHit, ...] = ()
    meaning_hits: tuple[MeaningHit, ...] = ()
    fused: tuple[tuple[int, float], ...] = field(default=(), repr=False)


def options_from(settings: Any, dedup: Any = None) -> SearchOptions:
    """Search options from the `[search]` settings (and `[dedup]`'s, for the vector index)."""
    return SearchOptions(
        depth=settings.depth,
        rrf_k=settings.rrf_k,
        text_weight=settings.text_weight,
        meaning_weight=settings.meaning_weight,
        meaning_floor=settings.meaning_floor,
        coverage_power=settings.coverage_power,
        vector_index_min_rows=None if dedup is None else dedup.vector_index_min_rows,
    )


def prepare(query: str, sources: Sequence[VectorSource], mode: str = "hybrid") -> PreparedQuery:
    """Analyse the query and embed it once per vector source (no warehouse needed)."""
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}")
    parsed = parse_query(query)
    probes: tuple[Probe, ...] = ()
    if mode != "text" and parsed.text:
        probes = tuple(
            Probe(s.table, s.encoder.model_name, s.encoder.encode([parsed.text])[0], s.floor)
            for s in sources
        )
    return PreparedQuery(query, parsed, probes)


def meaning_ranking(
    db: Db,
    probes: Sequence[Probe],
    *,
    filters: SearchFilters = SearchFilters(),
    depth: int = 100,
    only: Sequence[int] | None = None,
    vector_index: bool = True,
    vector_index_min_rows: int | None = None,
) -> list[MeaningHit]:
    """Articles closest in meaning to the query over every vector source, best first. The
    sources' cosines are on different scales (two models), so several sources are merged by
    rank, in turn: each one's best, then each one's second... Chunks are searched through the
    vector index saved beside the warehouse when there is a valid one holding at least
    `vector_index_min_rows` chunks ([dedup] vector_index_min_rows when None), else exactly;
    a few articles (`only`) are always scored exactly."""
    min_rows = vectors.index_min_rows(vector_index_min_rows)
    rankings = []
    for probe in probes:
        saved = None
        if vector_index and only is None and probe.table == vectors.TABLE:
            saved = savedindex.saved_chunks(db, probe.model, min_rows)
        if saved is not None and saved.dim == np.asarray(probe.vector).size:
            hits = vectors.ranking(
                db,
                saved,
                probe.vector,
                probe.model,
                filters=filters,
                depth=depth,
                ahead=probe.ahead,
            )
        else:
            hits = vector_store.meaning_ranking(
                db,
                probe.vector,
                probe.model,
                filters=filters,
                depth=depth,
                table=probe.table,
                only=only,
            )
        rankings.append([h for h in hits if h.similarity >= probe.floor])
    if len(rankings) == 1:
        return rankings[0][:depth]
    out: dict[int, MeaningHit] = {}
    for rank in range(max((len(r) for r in rankings), default=0)):
        for hits in rankings:
            if rank < len(hits) and hits[rank].article_id not in out:
                out[hits[rank].article_id] = hits[rank]
    return list(out.values())[:depth]


def text_ranking(
    db: Db,
    parsed: ParsedQuery,
    *,
    filters: SearchFilters = SearchFilters(),
    depth: int = 100,
    also: Collection[int] = (),
) -> tuple[search_store.TextRanking, set[int]]:
    """Articles by BM25 of the query's terms, each holding every quoted phrase, with the
    terms' document counts; and which of the articles `also` hold every phrase (checked with
    the first candidates)."""
    return search_store.text_ranking(
        db, parsed.terms, filters=filters, phrases=parsed.phrase_checks(), depth=depth, also=also
    )


def coverage(
    terms: Sequence[str], hits: Sequence[TextHit], documents: int, holding: Mapping[str, int]
) -> dict[int, float]:
    """Each text hit's share of the query: the idf of the query terms it holds over the idf of
    all of them (`documents` indexed, `holding` a term: the ranking's counts). Two common
    words of a long query are a weak match; the one rare name asked for is a full one."""
    counts = {t: holding.get(t, 0) for t in terms}
    idf = {t: math.log(1 + (documents - c + 0.5) / (c + 0.5)) for t, c in counts.items()}
    total = sum(idf.values()) or 1.0
    return {h.article_id: sum(idf.get(t, 0.0) for t in h.terms) / total for h in hits}


def _fuse_weighted(
    text_hits: Sequence[TextHit],
    meaning_hits: Sequence[MeaningHit],
    share: dict[int, float],
    options: SearchOptions,
) -> list[tuple[int, float]]:
    scores: dict[int, float] = {}
    for rank, hit in enumerate(text_hits, 1):
        scores[hit.article_id] = (
            options.text_weight
            * share[hit.article_id] ** options.coverage_power
            / (options.rrf_k + rank)
        )
    for rank, m in enumerate(meaning_hits, 1):
        # An article in another language cannot hold the query's words: its meaning rank
        # stands in for the full-text rank it could never have.
        stand_in = (
            options.text_weight
            if (m.source == CROSS_LINGUAL_TABLE and m.article_id not in scores)
            else 0.0
        )
        scores[m.article_id] = scores.get(m.article_id, 0.0) + (
            options.meaning_weight + stand_in
        ) / (options.rrf_k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def search(
    db: Db,
    prepared: PreparedQuery,
    *,
    filters: SearchFilters = SearchFilters(),
    mode: str = "hybrid",
    limit: int = 20,
    options: SearchOptions = SearchOptions(),
) -> SearchOutcome:
    """Rank, fuse and fold: up to `limit` stories, best first."""
    ranking, meaning_hits = _rankings(db, prepared, filters, mode, options)
    text_hits = ranking.hits
    if mode == "hybrid" and options.coverage_power > 0 and text_hits:
        share = coverage(prepared.parsed.terms, text_hits, ranking.documents, ranking.holding)
        fused = _fuse_weighted(text_hits, meaning_hits, share, options)
    else:
        fused = reciprocal_rank_fusion(
            [[h.article_id for h in text_hits], [h.article_id for h in meaning_hits]],
            k=options.rrf_k,
            weights=[options.text_weight, options.meaning_weight],
        )
    # Phrases bind the modes that rank words (a meaning search reads them as meaning).
    checked = prepared.parsed.phrases if mode != "meaning" else ()
    results, dropped = _fold(db, prepared.parsed, checked, fused, text_hits, meaning_hits, limit)
    fused = [(aid, score) for aid, score in fused if aid not in dropped]
    return SearchOutcome(tuple(results), tuple(text_hits), tuple(meaning_hits), tuple(fused))


def _rankings(
    db: Db,
    prepared: PreparedQuery,
    filters: SearchFilters,
    mode: str,
    options: SearchOptions,
) -> tuple[search_store.TextRanking, list[MeaningHit]]:
    """The full-text and meaning rankings the mode asks for; in hybrid search a meaning hit
    must hold every quoted phrase; a hit not found by its words needs `meaning_floor` (a
    cosine of the English model's chunks: the multilingual leads have their own floor)."""
    parsed = prepared.parsed
    ranking = search_store.TextRanking([])
    meaning_hits: list[MeaningHit] = []
    if mode in ("hybrid", "meaning"):
        meaning_hits = meaning_ranking(
            db,
            prepared.probes,
            filters=filters,
            depth=options.depth,
            vector_index=options.vector_index,
            vector_index_min_rows=options.vector_index_min_rows,
        )
    if mode in ("hybrid", "text"):
        # In hybrid search the meaning hits' phrases are checked with the text side's first
        # candidates, in one statement.
        also = {h.article_id for h in meaning_hits} if parsed.phrases else set()
        ranking, held = text_ranking(db, parsed, filters=filters, depth=options.depth, also=also)
        if parsed.phrases:
            meaning_hits = [h for h in meaning_hits if h.article_id in held]
    if mode in ("hybrid", "meaning") and options.meaning_floor > 0:
        in_text = {h.article_id for h in ranking.hits}
        meaning_hits = [
            h
            for h in meaning_hits
            if h.article_id in in_text
            or h.source == CROSS_LINGUAL_TABLE
            or h.similarity >= options.meaning_floor
        ]
    return ranking, meaning_hits


def _shown(
    db: Db,
    fused: Sequence[tuple[int, float]],
    infos: Mapping[int, ArticleInfo],
    patterns: Sequence[re.Pattern],
    limit: int,
) -> tuple[list[tuple[int, list[tuple[int, float]]]], dict[int, str], set[int]]:
    """The first `limit` stories of a fused ranking, the texts of their best reports (read
    for the passages), and the reports left out. The index matched each phrase's word stems
    in place; a shown report must hold the phrase as written ("hypersensitive pneumonitis" is
    not "hypersensitivity pneumonitis"), checked in those texts: one that does not gives its
    place to the next."""
    story_of = {aid: info.story_id for aid, info in infos.items()}
    texts: dict[int, str] = {}
    dropped: set[int] = set()
    while True:
        stories = fold([(a, s) for a, s in fused if a not in dropped], story_of)[:limit]
        unread = [items[0][0] for _, items in stories if items[0][0] not in texts]
        if not unread:
            return stories, texts, dropped
        texts.update(article_store.texts(db, unread, {a: infos[a].content_hash for a in unread}))
        failed = {
            aid
            for aid in unread
            if not all(p.search(f"{infos[aid].title}\n{texts.get(aid, '')}") for p in patterns)
        }
        if not failed:
            return stories, texts, dropped
        dropped |= failed


def _fold(
    db: Db,
    parsed: ParsedQuery,
    phrases: Sequence[str],
    fused: Sequence[tuple[int, float]],
    text_hits: Sequence[TextHit],
    meaning_hits: Sequence[MeaningHit],
    limit: int,
) -> tuple[list[StoryResult], set[int]]:
    """The fused ranking folded by story: each story's best report with its passage, the
    query words it holds, its ranks and scores; and the reports left out (`_shown`)."""
    infos = search_store.articles_info(db, [aid for aid, _ in fused])
    patterns = [phrase_pattern(p) for p in parsed.phrases]  # highlighted in the passages
    checked = [phrase_pattern(p) for p in phrases]
    stories, texts, dropped = _shown(db, fused, infos, checked, limit)
    best_ids = [items[0][0] for _, items in stories]
    present = search_store.terms_present(db, best_ids, parsed.terms)
    sizes = search_store.story_sizes(db, [sid for sid, _ in stories])
    by_text = {h.article_id: (rank, h) for rank, h in enumerate(text_hits, 1)}
    by_meaning = {h.article_id: (rank, h) for rank, h in enumerate(meaning_hits, 1)}
    results = []
    for story_id, items in stories:
        aid, score = items[0]
        info = replace(infos[aid], text=texts.get(aid, ""))
        t_rank, t_hit = by_text.get(aid, (None, None))
        m_rank, m_hit = by_meaning.get(aid, (None, None))
        matched = tuple(parsed.surface[t] for t in parsed.terms if t in present.get(aid, ()))
        span = (m_hit.start_char, m_hit.end_char) if m_hit is not None else None
        hit = SearchHit(
            article=info,
            score=score,
            text_rank=t_rank,
            meaning_rank=m_rank,
            bm25=t_hit.score if t_hit is not None else None,
            similarity=m_hit.similarity if m_hit is not None else None,
            matched_terms=matched,
            passage=best_passage(info.text, parsed.terms, span=span, phrases=patterns),
        )
        results.append(
            StoryResult(
                story_id=story_id,
                best=hit,
                reports=sizes.get(story_id, len(items)),
                matched=len(items),
                article_ids=tuple(i for i, _ in items),
            )
        )
    return results, dropped
