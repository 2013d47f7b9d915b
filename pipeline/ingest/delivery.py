"""A cycle's alerts after each commit: saved-search checks asked on the writer thread, and
delivery on a thread of its own, so webhooks and mail never hold up writing.

Every alert row is written by the writer thread (in the batch transaction, or when a check
completes); this thread only delivers what is due. A cancelled cycle leaves alerts pending: the
next start delivers them.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from pipeline.alerts.deliver import deliver_due
from pipeline.ingest import alerting
from pipeline.ingest.ledger import Ledger
from pipeline.ingest.services import Services

log = logging.getLogger(__name__)


class AlertCourier:
    """Resolves saved-search checks and delivers due alerts for one cycle, counting both in the
    ledger."""

    def __init__(self, services: Services, ledger: Ledger, cancel: threading.Event) -> None:
        self.services = services
        self.ledger = ledger
        self.cancel = cancel
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="newswatch-alerts")
        self._lock = threading.Lock()
        self._queued = False

    def resolve_checks(self) -> int:
        """Ask saved searches about the articles rules wait on (writer thread, after a commit);
        returns how many alerts that raised."""
        if self.services.search_matcher is None:
            return 0
        try:
            return len(alerting.resolve_checks(self.services, datetime.now(UTC)))
        except Exception as exc:  # the checks stay and are asked again after the next batch
            log.warning("saved-search checks of alert rules failed: %s", exc)
            return 0

    def queue_delivery(self) -> None:
        """Have the alert thread deliver what is due (once, however many batches ask)."""
        with self._lock:
            if self._queued:
                return
            self._queued = True
        self._thread.submit(self._deliver)

    def shutdown(self) -> None:
        """Wait for the delivery under way (the last batch's alerts)."""
        self._thread.shutdown(wait=True)

    def _deliver(self) -> None:
        with self._lock:
            self._queued = False
        if self.cancel.is_set():
            return  # pending: the next start delivers them
        settings, warehouse = self.services.settings, self.services.warehouse
        try:
            report = deliver_due(
                settings, warehouse, self.services.alert_config, cancel=self.cancel
            )
        except Exception as exc:  # they stay pending: the next cycle tries again
            log.warning("alert delivery failed: %s", exc)
            return
        self.ledger.count("alerts_sent", report.sent)
        self.ledger.count("alerts_failed", report.failed)
