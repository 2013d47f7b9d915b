"""The reading room: newswatch in the browser (`newswatch serve`, and `newswatch run` by default).

Server-rendered pages over the library (Starlette, Jinja2), every page also as JSON, a small
script for keyboard navigation and live updates, read-only and brief visits to the warehouse."""
