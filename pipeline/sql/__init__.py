"""Analysts' read-only SQL: the statement guard and the runner."""
