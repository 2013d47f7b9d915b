"""Named exceptions. Expected failures derive from NewswatchError and reach the user as one line."""

from __future__ import annotations


class NewswatchError(Exception):
    """An expected failure: the CLI prints its message on one line and exits non-zero."""

    exit_code = 1
    #: What the CLI prints between "newswatch: " and the message.
    prefix = "error: "


class ConfigError(NewswatchError):
    """Settings, feeds or topics files are missing, malformed or hold an impossible value."""

    exit_code = 2


class WarehouseError(NewswatchError):
    """The warehouse cannot be opened, migrated or written."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse file's lock."""


class ReadOnlyQueryError(NewswatchError):
    """A query given to `newswatch sql` would modify the warehouse."""


class QueryInterruptedError(NewswatchError):
    """SIGINT or SIGTERM stopped a `newswatch sql` query."""

    exit_code = 130
    # The user asked for it: the CLI says so without calling it an error.
    prefix = ""


class ExportError(NewswatchError):
    """`newswatch sql --output` cannot or must not write the file asked for."""


class ModelError(NewswatchError):
    """The embedding model cannot be loaded or fails verification."""


class FetchError(NewswatchError):
    """An HTTP (or local file) fetch failed; `kind` classifies the failure."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s


class FeedParseError(NewswatchError):
    """A fetched feed could not be parsed into any entries."""


class DaemonRunningError(NewswatchError):
    """Another daemon already runs against the same warehouse."""


class DigestError(NewswatchError):
    """A digest could not be built or sent."""


class SearchError(NewswatchError):
    """A search cannot run as asked (an unknown saved search, an unusable filter)."""


class QueryWithoutWordsError(SearchError):
    """A search query holds nothing to search for (empty, punctuation only): a usage error."""

    exit_code = 2


class WatchlistMissingError(SearchError):
    """`--entity` was given but the warehouse has no watchlist (no article_entities table)."""


class MailError(NewswatchError):
    """A message could not be handed to the SMTP server; `permanent`: retrying will not help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class AlertError(NewswatchError):
    """An alert rule or delivery cannot be found or carried out."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
