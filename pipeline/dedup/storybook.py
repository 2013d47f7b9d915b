"""Who belongs to which story between cycles: members, the copies that follow them, the merges
made since the index was built (undone with the articles that made them), word statistics and
the statistics of what survives translation (pipeline/dedup/specifics.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pipeline.dedup.specifics import SpecificStats
from pipeline.dedup.words import TermStats


@dataclass
class _Merge:
    story: int
    into: int
    by_article: int
    moved: list[int]
    copies: list[int]


@dataclass
class StoryBook:
    """Members of every story, the merges made since the index was built, word and specifics
    statistics."""

    story_of: dict[int, int] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)  # originals only
    copies: dict[int, list[int]] = field(default_factory=dict)  # duplicates, by story
    merges: list[_Merge] = field(default_factory=list)
    # Analysts' splits: articles that are never to share a story again (both ways).
    apart: dict[int, set[int]] = field(default_factory=dict)
    terms: TermStats = field(default_factory=TermStats)
    specifics: SpecificStats = field(default_factory=SpecificStats)

    def add(self, article_id: int, story_id: int, original: bool = True) -> None:
        """Record an article (an original, or a copy that only follows its story)."""
        self.story_of[article_id] = story_id
        (self.members if original else self.copies).setdefault(story_id, []).append(article_id)

    def story(self, article_id: int) -> int:
        """The story an article belongs to (itself if unknown)."""
        return self.story_of.get(article_id, article_id)

    def merge(self, story: int, into: int, by_article: int) -> None:
        """Fold one story into another; its members move."""
        moved = self.members.pop(story, [])
        copies = self.copies.pop(story, [])
        for a in moved + copies:
            self.story_of[a] = into
        self.members.setdefault(into, []).extend(moved)
        self.copies.setdefault(into, []).extend(copies)
        self.merges.append(_Merge(story, into, by_article, moved, copies))

    def split(self, article_id: int, story: int, copies: Iterable[int] = ()) -> None:
        """An analyst's split: the article (and its copies) leaves the story and starts its own,
        and it and the story's members are kept apart from now on. A story named after the
        article is named after the first of the rest (as the warehouse names it)."""
        mine = set(copies)
        others = [
            a for a in self.members.get(story, []) + self.copies.get(story, []) if a != article_id
        ]
        for a in others:
            self.apart.setdefault(a, set()).add(article_id)
        self.apart.setdefault(article_id, set()).update(others)
        if self.story_of.get(article_id) != story:
            return  # already out (a split applied before)
        rest = [a for a in self.members.pop(story, []) if a != article_id]
        rest_copies: list[int] = []
        my_copies: list[int] = []
        for c in self.copies.pop(story, []):
            (my_copies if c in mine else rest_copies).append(c)
        if rest or rest_copies:
            name = story if story != article_id else min(rest + rest_copies)
            if rest:
                self.members[name] = rest
            if rest_copies:
                self.copies[name] = rest_copies
            for a in rest + rest_copies:
                self.story_of[a] = name
        self.members[article_id] = [article_id]
        if my_copies:
            self.copies[article_id] = my_copies
        for a in [article_id, *my_copies]:
            self.story_of[a] = article_id

    def kept_apart(self, a: Iterable[int], b: Iterable[int]) -> bool:
        """Whether some article of one group was split from some article of the other."""
        theirs = set(b)
        return any(self.apart.get(x, set()) & theirs for x in a)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget articles, undoing the merges they made (a batch that was not written)."""
        gone = set(ids)
        for m in reversed([m for m in self.merges if m.by_article in gone]):
            for moved, book in ((m.moved, self.members), (m.copies, self.copies)):
                back = [a for a in moved if a not in gone and self.story_of.get(a) == m.into]
                for a in back:
                    self.story_of[a] = m.story
                book[m.into] = [a for a in book.get(m.into, []) if a not in set(back)]
                book.setdefault(m.story, []).extend(back)
        self.merges = [m for m in self.merges if m.by_article not in gone]
        for a in gone:
            s = self.story_of.pop(a, None)
            for book in (self.members, self.copies):
                if s is not None and s in book:
                    book[s] = [x for x in book[s] if x != a]
                    if not book[s]:
                        del book[s]
