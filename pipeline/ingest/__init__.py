"""Ingest: feeds in, stored articles out, in stages read top to bottom.

- `cycle`: one cycle over the due feeds (prepare, poll, fetch pages, store), the only place that
  knows the order of the stages;
- `ledger`: the cycle's per-feed bookkeeping, one owner behind one lock;
- `polls`: a cycle's feed polls, recorded once each feed is settled;
- `delivery`: a cycle's alerts after each commit (saved-search checks, delivery thread);
- `draft`: a feed entry and its page → the article to store (pure);
- `writer`: the single writer, drafts in and stored articles out, for every source;
- `batch`: the per-batch step every writer shares (embed, deduplicate, tag, stored records);
- `services`: what is kept between cycles (model, dedup index, tagger) and its lifecycle;
- `upkeep`: seeds, the feeds list, re-tagging, the full-text index;
- `rebuild`: dedup decisions made again after a threshold change.
"""

from pipeline.ingest.cycle import Reporter, run_cycle
from pipeline.ingest.ledger import CycleSummary
from pipeline.ingest.services import Services

__all__ = ["CycleSummary", "Reporter", "Services", "run_cycle"]
