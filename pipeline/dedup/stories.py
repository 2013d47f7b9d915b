"""Stories: which earlier story a new original article joins, and why (decisions are pure
functions over evidence; pipeline/dedup/storybook.py keeps who belongs to which story between
cycles, pipeline/dedup/storyindex.py gathers the evidence of a new article, and
pipeline/dedup/storyrule.py holds the thresholds and the rules of one link, `link_rule` among
them, pipeline/dedup/storyhold.py which stories a new article's links may join; this module
weighs a new article's links story by story and decides).

Copies are settled first (pipeline/dedup/copies.py); an original's hits come here: for each stored
article within `story_window_days`, the best chunk cosine (`meaning`) and, when one of the two
texts is short, the cosine of one's headline with the other's text (`headline`). The words both
texts use, weighted by how rare they are among the articles stored so far (tf-idf cosine,
`words`, pipeline/dedup/words.py), complete the evidence. A link to a stored article holds by one
of these rules (`link_rule`; every threshold is a [dedup] setting, `newswatch config` shows them):

- `meaning`: best chunk cosine >= `story_similarity`: two reports of one event share at least
  one passage about it;
- `meaning+words`: best chunk cosine >= `story_min_similarity` and best chunk cosine + words >=
  `story_combined_score`: the same subject told with the same specific names, places and
  numbers. Same-subject reports of different events share the subject's words, which are common
  among stored articles and weigh little;
- `meaning+lead`: both texts English, best chunk cosine >= `story_min_similarity` and their
  multilingual title + lead vectors, centered on the English mean, reach cosine >=
  `story_english_lead`: a second model that reads the opening of each text sees the same event
  where the English model's best passage is only close. Same-subject reports of different events
  (two commentaries on one trial) share passages about the subject but not their openings;
- `headline`: one text has fewer than `story_short_words` words (a teaser, a paywall) and its
  headline matches the other's text (or the other's headline matches it) at cosine >=
  `story_headline_similarity`;
- `lead`: the two texts are not both English (the English model cannot compare them) and their
  multilingual title + lead vectors, each centered on its language's mean
  (pipeline/dedup/crosslingual.py), reach cosine >= `story_lead_similarity`. Both are within the
  story window of each other, the evidence of time every link has;
- `lead+specifics`: not both English, centered lead cosine >= `story_lead_min_similarity`, and
  the two texts share what survives translation (numbers, amounts, dates, names in Latin script
  or transliterated, links, watched entities; pipeline/dedup/specifics.py): the rarity-weighted
  share of the poorer text's specifics found in the other is >= `story_specifics_overlap`. Two
  reports of one event give the same figures, day and names; two texts that merely mean alike
  do not.

A story may be joined only where no member is unlike the new article and no bridge article
would chain it (pipeline/dedup/storyhold.py: the unlike and bridge rules). The story with the
strongest holding link wins: the English model's links before those by a lead cosine, except
an English link whose openings are unlike (centered lead cosine below `story_unlike_lead`),
which ranks below a link across languages: its passage may be a roundup's paragraph on the
event, and a report in another language whose opening holds tells which event the new article
reports. A new article that holds links with two stories that already resemble each other
(some members at best chunk cosine >= `story_min_similarity`, or, across languages, at lead
cosine >= `story_lead_similarity`), none unlike a member of the other, merges them: the later
story is folded into the earlier one, whose id stays (`story_merges` records each merge;
`articles.story_id` always names the surviving story).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.dedup.storybook import StoryBook
from pipeline.dedup.storyhold import Held, held_stories
from pipeline.dedup.storyrule import (
    Hit,
    Link,
    StoryRule,
    agrees,
    is_short,
    link_rule,
    retold,
    strength,
    strongest,
    unlike,
)
from pipeline.dedup.words import TermCache, Terms, TermStats, terms_of
from pipeline.models import JoinedStoryEvidence, NewStoryEvidence, StoryLink, StoryMerge

__all__ = [
    "Hit",
    "Link",
    "StoryBook",
    "StoryDecision",
    "StoryRule",
    "TermCache",
    "TermStats",
    "Terms",
    "agrees",
    "decide_story",
    "is_short",
    "link_rule",
    "retold",
    "terms_of",
    "unlike",
]


@dataclass(frozen=True)
class StoryDecision:
    """The story a new original joins (its own id when it starts one), the stories it merges
    into that one, and the evidence as stored in `articles.story_evidence`."""

    story_id: int
    merged: tuple[int, ...]
    evidence: NewStoryEvidence | JoinedStoryEvidence


def decide_story(
    article_id: int,
    text: str,
    terms: Terms,
    short: bool,
    hits: Mapping[int, Hit],
    book: StoryBook,
    cache: TermCache,
    rule: StoryRule,
    short_ids: set[int],
    stories_close: Callable[[list[int], list[int]], float],
    leads_close: Callable[[list[int], list[int]], float] | None = None,
    in_window: Callable[[int], bool] | None = None,
    members_agree: Callable[[int, int], bool] | None = None,
    stories_unlike: Callable[[list[int], list[int]], bool] | None = None,
) -> StoryDecision:
    """The story of a new original, given its vector hits within the story window.

    `short_ids`: which stored articles have short texts; `stories_close(a, b)`: the best chunk
    cosine between any member of one list and any of the other (for merges); `leads_close(a,
    b)`: the same by centered lead cosine over pairs not both English (stories told in
    different languages resemble each other only there); `in_window(m)`: whether member `m` was
    published within the story window of the new article (None: all were); `members_agree(a,
    b)`: whether two stored members agree with each other (None: the bridge rule counts every
    member in the window); `stories_unlike(a, b)`: whether a member of one list is unlike one
    of the other (None: stories merge whatever their members).
    """
    candidates = _candidates(article_id, hits, rule)
    known = cache.get(candidates)
    links = _links({m: hits[m] for m in candidates}, terms, short, known, book, rule, short_ids)
    held = held_stories(links, book, rule, in_window, members_agree)
    if not held.holding:
        nearest = strongest([lk for ls in links.values() for lk in ls])
        return StoryDecision(
            article_id,
            (),
            NewStoryEvidence(
                None if nearest is None else _link(nearest, book.story(nearest.member)),
                _refused(held),
            ),
        )
    ranked = _ranked(held.holding, rule)
    target, merged = _merge_group(ranked, book, rule, stories_close, leads_close, stories_unlike)
    best = held.holding[target]
    words_shown = _shared_shown(best, text, known, book)
    others = [s for s in ranked if s != target and s not in dict(merged)]
    evidence = JoinedStoryEvidence(
        _link(best, target),
        held.support[target],
        len(book.members.get(target, [])),
        _link(held.stood_in[target], target) if target in held.stood_in else None,
        words_shown,
        tuple(_link(held.holding[s], s) for s in others[:3]),
        tuple(StoryMerge(s, c, _link(held.holding[s], s)) for s, c in merged),
        _refused(held),
    )
    return StoryDecision(target, tuple(s for s, _ in merged), evidence)


def _ranked(holding: Mapping[int, Link], rule: StoryRule) -> list[int]:
    """The stories held, strongest link first (`strength`), except that an English link whose
    openings are unlike (centered lead cosine < `story_unlike_lead`) ranks below a link across
    languages."""
    # An English link holding by a passage outranks any lead cosine, yet the passage can be a
    # roundup's paragraph on the event: its openings then tell of another event, as an unlike
    # member's do, and a report in another language whose opening holds tells this one.
    ranked = sorted(holding, key=lambda s: strength(holding[s]), reverse=True)
    first = holding[ranked[0]]
    if first.lead or not first.english_lead or first.english_lead >= rule.unlike_lead:
        return ranked
    across = next((s for s in ranked if holding[s].lead), None)
    if across is None:
        return ranked
    return [across, *(s for s in ranked if s != across)]


def _candidates(article_id: int, hits: Mapping[int, Hit], rule: StoryRule) -> list[int]:
    """The stored articles worth weighing as story members: close enough by chunk or headline
    cosine, by lead cosine, or by lead cosine with specifics shared."""
    return [
        m
        for m, h in hits.items()
        if m != article_id
        and (
            max(h.meaning, h.headline) >= rule.candidate_floor
            or h.lead >= rule.lead_support
            or (h.lead and h.lead >= rule.lead_min_similarity and h.specifics > 0.0)
        )
    ]


def _shared_shown(
    best: Link, text: str, known: Mapping[int, tuple[str, Terms]], book: StoryBook
) -> tuple[str, ...] | None:
    """What the evidence shows the new text shares with the member of its strongest link: the
    rare words for a words or headline link, the specifics for a lead+specifics one (None for
    other rules, or when the member's text is not at hand)."""
    if best.rule in ("meaning+words", "headline") and best.member in known:
        return tuple(book.terms.shared_words(text, known[best.member][0]))
    if best.rule == "lead+specifics" and best.member in known:
        mine, theirs = book.specifics.of(text), book.specifics.of(known[best.member][0])
        return tuple(book.specifics.shared(mine, theirs))
    return None


def _links(
    hits: Mapping[int, Hit],
    terms: Terms,
    short: bool,
    known: Mapping[int, tuple[str, Terms]],
    book: StoryBook,
    rule: StoryRule,
    short_ids: set[int],
) -> dict[int, list[Link]]:
    """The links of a new article with each candidate member, by the member's story."""
    links: dict[int, list[Link]] = {}
    for member, h in hits.items():
        words = book.terms.cosine(terms, known[member][1]) if member in known else 0.0
        pair_short = short or member in short_ids
        link = Link(
            member,
            round(h.meaning, 4),
            round(h.headline, 4),
            round(words, 4),
            pair_short,
            link_rule(
                h.meaning, h.headline, words, pair_short, rule, h.lead, h.specifics, h.english_lead
            ),
            round(h.lead, 4),
            round(h.specifics, 4),
            round(h.english_lead, 4),
        )
        links.setdefault(book.story(member), []).append(link)
    return links


def _merge_group(
    ranked: list[int],
    book: StoryBook,
    rule: StoryRule,
    stories_close: Callable[[list[int], list[int]], float],
    leads_close: Callable[[list[int], list[int]], float] | None,
    stories_unlike: Callable[[list[int], list[int]], bool] | None = None,
) -> tuple[int, list[tuple[int, float]]]:
    """The strongest story and those it already resembles are one story, unless a member of
    one is unlike a member of another: the earliest id stays. The story joined, and the others
    merged into it with their closeness."""
    group = [ranked[0]]
    closeness: dict[int, float] = {}
    for other in ranked[1:]:
        mine, theirs = book.members.get(ranked[0], []), book.members.get(other, [])
        if book.kept_apart(mine, theirs):
            continue  # an analyst split them: never merged again
        c = stories_close(mine, theirs)
        if not (
            c >= rule.min_similarity
            or leads_close is not None
            and (c := leads_close(mine, theirs)) >= rule.lead_similarity
        ):
            continue
        # Only for stories close enough to merge: the pairwise check reads members' words.
        if stories_unlike is not None and any(
            stories_unlike(book.members.get(g, []), theirs) for g in group
        ):
            continue  # a new article close to both does not make another event this one
        group.append(other)
        closeness[other] = round(c, 4)
    target = min(group)
    if target != ranked[0]:
        closeness[ranked[0]] = closeness.pop(target)
    return target, [(s, closeness[s]) for s in group if s != target]


def _refused(held: Held) -> tuple[tuple[int, str], ...]:
    return tuple(held.refused.items())


def _link(link: Link, story: int) -> StoryLink:
    """A link as its evidence records it (the headline only where it counts)."""
    return StoryLink(
        link.member,
        story,
        link.meaning,
        link.words,
        link.headline if link.short else None,
        link.lead or link.english_lead or None,
        link.rule,
        link.specifics or None,
    )
