"""Which stories a new article's links may join (pure; pipeline/dedup/stories.py ranks the
stories held and decides): a story is held by its strongest holding link unless a member is
unlike the new article or the story would be chained through a bridge article.

A story is refused when one of its members within the window is unlike the new article: both
English, their best chunk cosine close (`story_min_similarity` or more, below `story_similarity`),
no rule holding, and their title + lead vectors, centered on the English mean, below
`story_unlike_lead`. They share passages about one subject, and their openings tell of two
events (a committee's vote and a senator's forecast of the trial): a story that holds both has
been chained through commentary on the subject. A new article whose best chunk with one member
reaches `story_combined_score` joins whatever the others are: it retells that member, and an
unlike member beside it is one a roundup chained in. Two stories with a member of one unlike a
member of the other are not merged either.

A story is joined only if the new article also agrees (best chunk cosine >=
`story_support_similarity`, a lead cosine within `story_lead_support_gap` of the lead rule's
threshold, or a holding link) with at least `story_support_members` of its members once it has
`story_support_from` or more, so one bridge article (a roundup of two events) does not chain a
later report of the other event into the story. Only members published within the story window
of the new article count, in the members as in their support: the others give no evidence for
or against (a story begun more than a window ago is joined on its recent members' agreement).
The rule applies only where the member the new article holds with is one of a group: it and
the members in the window that agree with it (`members_agree`, by their vectors, as a member
agrees with a new article) number `story_support_from` or more. A member the rest of its story
does not resemble (a story chained through a roundup) is in no such group, and the others'
silence says nothing about a report of its own event. A lead cosine >= `story_lead_alone` with one
member (the same report in another language) is support enough, as a copy follows its
original.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.dedup.storybook import StoryBook
from pipeline.dedup.storyrule import Link, StoryRule, agrees, retold, strongest, unlike


@dataclass(frozen=True)
class Held:
    """Stories whose links hold and may be joined, the support each had, and the refused."""

    holding: dict[int, Link]
    support: dict[int, int]
    stood_in: dict[int, Link]  # a retelling that stood in for the members' support
    refused: dict[int, str]


def held_stories(
    links: Mapping[int, list[Link]],
    book: StoryBook,
    rule: StoryRule,
    in_window: Callable[[int], bool] | None = None,
    members_agree: Callable[[int, int], bool] | None = None,
) -> Held:
    """The stories a new article's links hold with, less those a bridge article would chain.
    Only members within the story window count: the others give no evidence, so they could
    not agree."""
    held = Held({}, {}, {}, {})
    for story, story_links in links.items():
        best = strongest([lk for lk in story_links if lk.rule is not None])
        if best is None:
            continue
        members = book.members.get(story, [])
        if in_window is not None:
            members = [m for m in members if in_window(m)]
        apart = _unlike_member(story_links, best, rule, in_window)
        if apart is not None:
            held.refused[story] = (
                f"member {apart.member} is unlike it: best chunk {apart.meaning:.2f}, no rule "
                f"holds, openings at {apart.english_lead:.2f} (the same subject, another event)"
            )
            continue
        support = held.support[story] = sum(agrees(lk, rule) for lk in story_links)
        if len(members) >= rule.support_from and support < rule.support_members:
            told = retold(story_links, rule)
            if told is not None:
                held.stood_in[story] = told
            elif members_agree is None or _in_a_group(
                best.member, members, members_agree, rule.support_from
            ):
                held.refused[story] = (
                    f"holds with member {best.member} only; {support} of "
                    f"{len(members)} members agree (a bridge article does not chain "
                    f"stories)"
                )
                continue
        held.holding[story] = best
    return held


def _unlike_member(
    story_links: list[Link],
    best: Link,
    rule: StoryRule,
    in_window: Callable[[int], bool] | None,
) -> Link | None:
    """A member within the window that is unlike the new article, unless the new article's
    best chunk with one member reaches `combined_score`: a passage alone as strong as meaning
    and words together need is the report's own event, and an unlike member beside it shows
    a story grown through a roundup."""
    if best.meaning >= rule.combined_score:
        return None
    return next(
        (
            lk
            for lk in story_links
            if unlike(lk, rule) and (in_window is None or in_window(lk.member))
        ),
        None,
    )


def _in_a_group(
    member: int, members: list[int], members_agree: Callable[[int, int], bool], need: int
) -> bool:
    """Whether `member` and the members that agree with it are `need` or more: a group whose
    disagreement with a new report shows a bridge. A member the rest of its story does not
    resemble (a story chained through a roundup) is in no such group, and the other members'
    silence says nothing about a report of its own event."""
    found = 1
    for m in members:
        if found >= need:
            break
        found += m != member and members_agree(member, m)
    return found >= need
