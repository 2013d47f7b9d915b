"""Saved searches (config/searches.toml) and what alerts ask of them.

A saved search is a query with filters, run by `newswatch search --saved NAME`. As an alert
condition, `SavedSearches.match_saved(name, article_ids)` says which newly stored articles match
it. Ranks cannot decide that (an article's rank depends on everything else stored), so a match is
absolute: the article passes the search's filters (topic, entity, since), holds every quoted
phrase, and

- `match = "terms"`: holds every term of the query (title or text, inflections included), or
- `match = "meaning"`: has a passage whose cosine to the query reaches `min_similarity`, or
- `match = "any"` (the default): either of the two.

Such an article is one the search itself would show near the top: it holds every query word
(a high BM25) or is as close in meaning as the search's best results usually are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config.settings import SearchSettings
from pipeline.config.tomlfile import array_of_tables, numbered_tables, read_toml
from pipeline.errors import ConfigError, SearchError
from pipeline.models import SearchFilters
from pipeline.search.engine import MODES, Probe, QueryEncoder, meaning_ranking
from pipeline.search.terms import parse_query
from pipeline.store import search as search_store
from pipeline.store.db import Db, Warehouse

MATCH_KINDS = ("any", "terms", "meaning")
_KEYS = {
    "name",
    "query",
    "since",
    "topic",
    "entity",
    "limit",
    "mode",
    "match",
    "min_similarity",
    "note",
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SINCE_RE = re.compile(r"^(\d+)\s*([hdwm])$")
_UNITS = {
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "m": timedelta(days=30),
}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """A start time from `30d`, `12h`, `2w`, `6m` (30-day months) or a date `YYYY-MM-DD` (UTC)."""
    text = value.strip().lower()
    match = _SINCE_RE.match(text)
    if match:
        return (now or datetime.now(UTC)) - int(match[1]) * _UNITS[match[2]]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (12h, 30d, 2w, 6m) nor a date (YYYY-MM-DD)"
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def entity_name(watchlist: Any, given: str) -> str:
    """The watchlist's name for an entity given by name or any alias (case-insensitive); the
    text as given when the watchlist is empty. SearchError for a name it does not hold."""
    entities = getattr(watchlist, "entities", ())
    if not entities:
        return given
    wanted = given.strip().casefold()
    for entity in entities:
        if wanted in {a.casefold() for a in (entity.name, *entity.aliases)}:
            return entity.name
    names = [e.name for e in entities]
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    raise SearchError(
        f"no watchlist entity named {given!r} (by name or alias); the watchlist holds {shown}"
    )


@dataclass(frozen=True)
class SavedSearch:
    """One saved search as configured."""

    name: str
    query: str
    since: str | None = None
    topic: str | None = None
    entity: str | None = None
    limit: int = 20
    mode: str = "hybrid"
    match: str = "any"
    min_similarity: float = 0.5

    def filters(self, now: datetime | None = None) -> SearchFilters:
        """The search's filters, `since` counted back from now."""
        return SearchFilters(
            since=parse_since(self.since, now) if self.since else None,
            topic=self.topic,
            entity=self.entity,
        )


def _string(item: dict, key: str, where: str, required: bool = False) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: `{key}` is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def load_searches(path: Path, default_similarity: float = 0.5) -> tuple[SavedSearch, ...]:
    """Read and check the saved searches file; a missing file means none."""
    if not path.is_file():
        return ()
    items = array_of_tables(path, read_toml(path, "saved searches"), "searches")
    out: list[SavedSearch] = []
    seen: set[str] = set()
    for where, item in numbered_tables(path, items, "searches"):
        unknown = set(item) - _KEYS
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown)[0]!r}; known keys: "
                f"{', '.join(sorted(_KEYS))}"
            )
        name = _string(item, "name", where, required=True)
        assert name is not None
        where = f"{path}: search {name!r}"
        if not _NAME_RE.match(name):
            raise ConfigError(f"{where}: a name is letters, digits, '-', '_' and '.'")
        if name in seen:
            raise ConfigError(f"{where}: the name is used twice")
        seen.add(name)
        out.append(_saved_search(name, item, where, default_similarity))
    return tuple(out)


def _saved_search(name: str, item: dict, where: str, default_similarity: float) -> SavedSearch:
    """One saved search of the file, every value checked (ConfigError names `where`)."""
    query = _string(item, "query", where, required=True)
    assert query is not None
    if not parse_query(query).text:
        raise ConfigError(f"{where}: the query has no words")
    since = _string(item, "since", where)
    if since is not None:
        try:
            parse_since(since)
        except ValueError as exc:
            raise ConfigError(f"{where}: since: {exc}") from None
    limit = item.get("limit", 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ConfigError(f"{where}: limit must be an integer from 1 to 1000")
    mode = item.get("mode", "hybrid")
    if mode not in MODES:
        raise ConfigError(f"{where}: mode {mode!r} is not allowed; use one of {', '.join(MODES)}")
    match = item.get("match", "any")
    if match not in MATCH_KINDS:
        raise ConfigError(
            f"{where}: match {match!r} is not allowed; use one of {', '.join(MATCH_KINDS)}"
        )
    similarity = item.get("min_similarity", default_similarity)
    if (
        not isinstance(similarity, (int, float))
        or isinstance(similarity, bool)
        or not 0 <= similarity <= 1
    ):
        raise ConfigError(f"{where}: min_similarity must be a number from 0 to 1")
    return SavedSearch(
        name,
        query,
        since,
        _string(item, "topic", where),
        _string(item, "entity", where),
        limit,
        mode,
        match,
        float(similarity),
    )


class SavedSearches:
    """The saved searches, reloaded when the file changes, and alert matching against them.

    Built once (the daemon keeps one); the embedder is needed only for `meaning` matches and
    each query is embedded once per text."""

    def __init__(
        self,
        settings: SearchSettings,
        encoder: QueryEncoder | None = None,
        warehouse: Warehouse | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.warehouse = warehouse
        self._mark: Any = ()
        self._searches: dict[str, SavedSearch] = {}
        self._vectors: dict[str, Any] = {}

    def _load(self) -> dict[str, SavedSearch]:
        path = self.settings.file
        try:
            mark: Any = path.stat().st_mtime_ns
        except OSError:
            mark = None
        if mark != self._mark:
            self._searches = {s.name: s for s in load_searches(path, self.settings.min_similarity)}
            self._mark = mark
        return self._searches

    def all(self) -> tuple[SavedSearch, ...]:
        """Every saved search, in file order."""
        return tuple(self._load().values())

    def get(self, name: str) -> SavedSearch:
        """One saved search by name; SearchError names the known ones."""
        searches = self._load()
        if name not in searches:
            known = ", ".join(searches) or f"none: {self.settings.file} holds no searches"
            raise SearchError(f"no saved search named {name!r} (known: {known})")
        return searches[name]

    def _probe(self, query: str) -> Probe:
        if self.encoder is None:
            raise SearchError("matching saved searches by meaning needs the embedding model")
        if query not in self._vectors:
            self._vectors[query] = self.encoder.encode([parse_query(query).text])[0]
        return Probe("chunk_embeddings", self.encoder.model_name, self._vectors[query])

    def match_saved(self, name: str, article_ids: Iterable[int], db: Db | None = None) -> set[int]:
        """Which of these stored articles match saved search `name` (see the module doc).
        Uses `db` if given, else opens the warehouse read-only."""
        ids = sorted(set(int(i) for i in article_ids))
        if not ids:
            return set()
        search = self.get(name)
        if db is None:
            if self.warehouse is None:
                raise SearchError("match_saved needs a warehouse or an open connection")
            probe = self._probe(search.query) if search.match != "terms" else None
            with self.warehouse.connect(read_only=True) as own:
                return self._match(own, search, ids, probe)
        probe = self._probe(search.query) if search.match != "terms" else None
        return self._match(db, search, ids, probe)

    def _match(self, db: Db, search: SavedSearch, ids: list[int], probe: Probe | None) -> set[int]:
        parsed = parse_query(search.query)
        candidates = search_store.filtered_ids(db, ids, search.filters())
        if parsed.phrases:
            # A batch's few new articles: their texts are read, so a phrase holds as written.
            candidates = search_store.phrases_present(
                db, sorted(candidates), parsed.phrase_checks(), as_written=True
            )
        if not candidates:
            return set()
        found: set[int] = set()
        if search.match in ("terms", "any") and parsed.terms:
            present = search_store.terms_present(db, sorted(candidates), parsed.terms)
            found |= {aid for aid, terms in present.items() if terms >= set(parsed.terms)}
        if search.match in ("meaning", "any") and probe is not None:
            hits = meaning_ranking(db, [probe], depth=len(candidates), only=sorted(candidates))
            found |= {h.article_id for h in hits if h.similarity >= search.min_similarity}
        return found
