"""The one place that wires the store, the analyzer and the background worker from `Settings`.

Every face builds what it needs here and nowhere else (after hynek/svcs): the dashboard once per
process and settings (`chatkit.web.caches.services`), the REST API once per app (`chatkit.api`),
the command line once per command (`chatkit.cli`). A face passes its own name as `actor`, which the
analyzer writes into the audit log.

The LLM runtime (one event loop and one rate budget per process) belongs to `chatkit.llm`; the
analyzer built here uses it, so nothing here knows about loops or limits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.settings import Settings
from chatkit.store import Store

if TYPE_CHECKING:  # imported when started: the command line's one-shot commands never need it
    from chatkit.worker import BackgroundWorker

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What a face works with. `store` is None only when built with `persist=False`."""

    settings: Settings
    store: Store | None
    analyzer: ChatKitAnalyzer
    owns_store: bool = True
    worker: BackgroundWorker | None = field(default=None, init=False)

    def require_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("these services were built without a store (persist=False)")
        return self.store

    def start_worker(self) -> BackgroundWorker:
        """A daemon thread that runs the store's queued batch jobs and the retention purge (at start,
        then daily); started once, later calls return it."""
        if self.worker is None:
            from chatkit.worker import BackgroundWorker, Retention

            store = self.require_store()
            retention = Retention(store, self.settings.retention_days)  # purges at start, then daily
            self.worker = BackgroundWorker(store, self.analyzer, retention=retention)
        return self.worker.start()

    def close(self) -> None:
        """Stop the worker (a job in flight is handed back, queued) and close the store if built here."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.store is not None and self.owns_store:
            self.store.close()


def open_store(settings: Settings) -> Store:
    """The store the settings name (SQLite in CHATKIT_DATA_DIR, or CHATKIT_DATABASE_URL)."""
    return Store.from_settings(settings)


def build(
    settings: Settings,
    *,
    actor: str,
    store: Store | None = None,
    analyzer: ChatKitAnalyzer | None = None,
    persist: bool = True,
) -> Services:
    """Store (given, or opened from `settings` unless `persist=False`) and an analyzer over it.

    The analyzer caches and audits through the store; without one it keeps reports in memory only.
    A given `analyzer` (tests, a custom provider) is used as it is. The worker is not started: only
    a face that runs jobs in its own process calls `start_worker`.
    """
    owns_store = store is None
    if store is None and persist:
        store = open_store(settings)
    if analyzer is None:
        analyzer = ChatKitAnalyzer(settings, store=store, actor=actor)
    log.debug("services for %s: %r over %r", actor, analyzer, store)
    return Services(settings=settings, store=store, analyzer=analyzer, owns_store=owns_store)


__all__ = ["Services", "build", "open_store"]
