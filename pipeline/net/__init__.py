"""Outbound network: the one HTTP client with its private-address guard, SMTP, URL rules."""
