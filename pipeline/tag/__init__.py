"""Topics, watchlist entities and the seed corpus they start from."""
