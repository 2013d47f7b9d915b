"""Feeds: their config file, polling, parsing and the poll schedule."""
