"""The weekly digest, in modules whose imports go one way: model → render → mail → deliver.

- model: weeks, stories, sections and build_digest, which folds a week's rows (pure);
- render: subject, plain text and HTML from the templates beside this package, and the daily
  chart (chart.py, matplotlib, used by render only);
- mail: the MIME message, SMTP with retries, the outbox;
- deliver: reads the warehouse, builds, renders and mails a week's digest once; jobs.py and
  `newswatch digest` call it.

Each module imports only the ones before it. Nothing is re-exported here: importing the package
would otherwise load the whole stack (Jinja2, SMTP, DuckDB) for a caller that wants a Week.
"""
