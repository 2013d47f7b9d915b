"""From a fetched page to an article's text: extraction, its worker process, composition."""
