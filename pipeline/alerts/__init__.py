"""Alerts: rules in config/alerts.toml, raised by the ingest cycle, delivered through an outbox.

Modules, whose imports go one way (config → conditions → message → send → deliver):

- config: reading and checking alerts.toml (channels, rules, their conditions);
- conditions: evaluating a rule's condition on one new article (pure, three-valued: a saved
  search not yet asked is "unknown");
- message: what an alert says: the JSON, Slack and ntfy payloads and the e-mail (autoescaped);
- send: one delivery through one channel (webhook POST through pipeline/net/http.py, e-mail
  through pipeline/net/smtp.py, or the log);
- deliver: the outbox: deliver what is due, record each outcome, retry with backoff, replay.

pipeline/ingest/alerting.py raises alerts inside the batch transaction. Nothing is re-exported
here, so that importing the rules does not load the HTTP and mail stacks.
"""
