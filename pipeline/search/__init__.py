"""Search over the warehouse: full text (BM25 over a term index the writer keeps current) and
meaning (the query's embedding against chunk vectors), fused by reciprocal rank and folded by
story; saved searches (config/searches.toml) that alerts can use as conditions.

- `terms`: the analyzer shared by the index and queries (pure);
- `rank`: fusion and folding (pure); `passages`: the passage shown with a result (pure);
- `engine`: one search, from a query to stories; `saved`: saved searches and alert matching;
- `vectors`: meaning through the chunk vector index saved beside the warehouse.
"""
