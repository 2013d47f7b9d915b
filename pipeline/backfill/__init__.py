"""Backfill: months of news from web archives (WARC files), on a Dask cluster or in-process.

- `sources`: SOURCE arguments (files, folders, globs, lists; anything fsspec opens) → archive
  files with what identifies their content;
- `warc`: the HTML responses with status 200 in one WARC file (fastwarc);
- `prefilter`: the cheap test a page passes before it is embedded (topic keywords, watchlist);
- `worker`: one archive file → compact Arrow batch of extracted, filtered, embedded pages (runs
  on the Dask workers);
- `cluster`: the Dask client, local cluster or an existing scheduler, files in order;
- `run`: the client side, the only writer: orders, deduplicates, tags and stores through the
  ingest writer, records finished files, and counts.
"""
