"""Copies and stories: the dedup index, text overlap, story rules, cross-lingual leads, the vector
index."""
