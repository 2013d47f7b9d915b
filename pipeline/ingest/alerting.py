"""Raising alerts for new articles: inside the transaction that stores them (the outbox), and,
for rules that ask a saved search, once the batch is committed.

The writer's batch transaction calls `raise_alerts`: the active rules are evaluated on the
batch's articles as stored in that same transaction (entities, topics, relevance, and their
stories' reports, the batch included), and every (rule, story) that fires and has no alert yet
gets one, pending, with one delivery per channel. A rule whose answer depends on a saved search
leaves a check instead; `resolve_checks` asks the search after the commit and raises what it
completes. Delivery is pipeline/alerts/deliver.py's, after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipeline.alerts.conditions import ArticleFacts, Decision, Report, decide
from pipeline.alerts.config import AlertConfig
from pipeline.ingest.services import Services
from pipeline.store import alerts as alerts_store
from pipeline.store.alerts import NewAlert
from pipeline.store.db import Db

log = logging.getLogger(__name__)


def _facts(db: Db, ids: Sequence[int]) -> tuple[list[ArticleFacts], dict[int, dict[str, Any]]]:
    rows = alerts_store.candidates(db, ids)
    entities = alerts_store.entity_matches(db, [r["id"] for r in rows])
    stories = alerts_store.story_reports(db, [r["story_id"] for r in rows])
    facts = [
        ArticleFacts(
            id=r["id"],
            story_id=r["story_id"],
            entities=entities.get(r["id"], {}),
            topics=r["topics"],
            relevance=float(r["relevance"] or 0.0),
            story=tuple(Report(a, s, w) for a, s, w in stories.get(r["story_id"], [])),
        )
        for r in rows
    ]
    return facts, {r["id"]: r for r in rows}


def _new_alert(d: Decision, info: dict[str, Any], config: AlertConfig) -> NewAlert:
    f = d.facts
    evidence = {
        "matched": list(d.reasons),
        "entities": {
            name: {"mentions": m.mentions, "evidence": m.evidence} for name, m in f.entities.items()
        },
        "topics": dict(f.topics),
        "relevance": f.relevance,
        "story_sources": list(dict.fromkeys(r.source for r in f.story)),
    }
    return NewAlert(
        d.rule.name,
        f.story_id,
        f.id,
        info["title"],
        info["url"],
        info["source"],
        evidence,
        d.rule.channels,
    )


def _tags(services: Services) -> dict[str, tuple[str, ...]]:
    return {e.name: e.tags for e in services.watchlist.entities}


def raise_alerts(db: Db, services: Services, ids: Sequence[int], now: datetime) -> list[int]:
    """Evaluate the active rules on just-stored articles and insert the alerts they raise and the
    search checks they need (call inside the batch's transaction); return the new alert ids."""
    config: AlertConfig = services.alert_config
    rules = config.active
    if not rules or not ids:
        return []
    facts, info = _facts(db, ids)
    if not facts:
        return []
    already = alerts_store.alerted(db, [(r.name, f.story_id) for r in rules for f in facts])
    decisions = decide(rules, facts, _tags(services), already=already)
    fired = [_new_alert(d, info[d.facts.id], config) for d in decisions if d.value]
    alerts_store.add_checks(
        db, [(d.rule.name, d.facts.id) for d in decisions if d.value is None], now
    )
    new_ids = alerts_store.insert_alerts(db, fired, now)
    for alert_id, a in zip(new_ids, fired, strict=True):
        log.info(
            "alert %d raised: rule %s, story %d, article %d: %s",
            alert_id,
            a.rule,
            a.story_id,
            a.article_id,
            a.title,
        )
    return new_ids


def resolve_checks(services: Services, now: datetime) -> list[int]:
    """Ask the saved searches about the articles rules are waiting on (after the commit that
    stored them) and raise the alerts they complete; return the new alert ids."""
    matcher = services.search_matcher
    if matcher is None:
        return []
    config: AlertConfig = services.alert_config
    with services.warehouse.connect(read_only=True) as db:
        checks = alerts_store.pending_checks(db)
    if not checks:
        return []
    by_rule: dict[str, list[int]] = {}
    for rule_name, aid in checks:
        by_rule.setdefault(rule_name, []).append(aid)
    searched: dict[tuple[str, int], bool] = {}
    for name, ids in by_rule.items():
        rule = config.rule(name)
        if rule is None or name not in {r.name for r in config.active}:
            continue
        for search in sorted(rule.when.searches()):
            try:
                hits = set(matcher(search, ids))
            except Exception as exc:  # the search is another module's: the checks wait
                log.warning(
                    "saved search %r failed (%s); rule %s checks it again next cycle",
                    search,
                    exc,
                    name,
                )
                return []
            searched.update({(search, aid): aid in hits for aid in ids})
    with services.warehouse.transaction() as db:
        fired: list[NewAlert] = []
        tags = _tags(services)
        for name, ids in by_rule.items():
            rule = config.rule(name)
            if rule is None or name not in {r.name for r in config.active}:
                continue
            facts, info = _facts(db, ids)
            already = alerts_store.alerted(db, [(name, f.story_id) for f in facts]) | {
                (a.rule, a.story_id) for a in fired
            }
            fired += [
                _new_alert(d, info[d.facts.id], config)
                for d in decide([rule], facts, tags, searched=searched, already=already)
                if d.value
            ]
        new_ids = alerts_store.insert_alerts(db, fired, now)
        alerts_store.drop_checks(db, checks)
    return new_ids
