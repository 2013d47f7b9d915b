"""newswatch: a news-monitoring ingest pipeline over DuckDB."""

__version__ = "0.1.0"
