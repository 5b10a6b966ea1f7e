"""Batch reports that outlive a page: jobs kept in the store, run by a worker thread or process.

A job's life (see also the README):

    queued --claim--> running --all sessions done--> done (with a summary)
                         |  \\--request_stop--> stopping --worker notices--> stopped (results kept)
                         |   \\--analyzer raises, or every session failed--> failed (results kept)
                         \\--worker dies (no heartbeat for stale_after_s)--> claimed again: resumes
    queued --request_stop--> stopped           worker shutting down --> queued again

Each finished session is recorded as it arrives, so a resumed job only analyzes what is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from pydantic import BaseModel

from chatkit.domain.models import ChatKitSession, SessionReport
from chatkit.store import DatasetInfo, JobRecord, Store, acting_as

log = logging.getLogger(__name__)


class BatchAnalyzer(Protocol):
    """What a job needs from `chatkit.reports.analyzer.ChatKitAnalyzer`."""

    def analyze_batch(
        self,
        sessions: Sequence[ChatKitSession],
        *,
        progress: Callable[[int, int, SessionReport], None] | None = None,
        cancel: threading.Event | None = None,
        use_cache: bool = True,
    ) -> list[SessionReport]: ...

    def summarize(
        self, sessions: Sequence[ChatKitSession], reports: Sequence[SessionReport] | None = None
    ) -> BaseModel: ...


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_job(
    store: Store,
    analyzer: BatchAnalyzer,
    job_id: str,
    worker_id: str,
    *,
    shutdown: threading.Event | None = None,
    heartbeat_s: float | None = None,
) -> None:
    """Analyze the job's sessions not done yet and finish it as done, stopped or failed.

    The job must have been claimed by `worker_id`. A separate thread beats the heartbeat (a single
    LLM call may outlast the stale threshold) and watches for a stop request. When `shutdown` is set
    the job is handed back (queued again) rather than ended, so another worker resumes it.
    """
    job = store.get_job(job_id, with_results=False)
    if job is None or job.finished:
        return
    if not store.heartbeat(job_id, worker_id):
        raise ValueError(
            f"job {job_id} is not claimed by worker {worker_id!r}: claim it with Store.claim_job"
        )
    interval = heartbeat_s or max(0.05, store.stale_after.total_seconds() / 6)
    cancel = threading.Event()
    lost = threading.Event()
    over = threading.Event()

    def watch() -> None:
        while not over.wait(interval):
            try:
                if not store.heartbeat(job_id, worker_id):
                    lost.set()
                    cancel.set()
                    return
                if store.stop_requested(job_id):
                    cancel.set()
            except Exception:  # a database hiccup; the next beat tries again
                log.warning("heartbeat for job %s failed", job_id, exc_info=True)
            if shutdown is not None and shutdown.is_set():
                cancel.set()

    watcher = threading.Thread(target=watch, name=f"chatkit-heartbeat-{job_id[:8]}", daemon=True)
    watcher.start()
    # Every audit row of this job (the start, the analyzer's per-call rows, the end) names whoever
    # queued it; a job from before migration 0003 has no requester and its rows name the worker.
    requester = acting_as(job.requested_by) if job.requested_by else contextlib.nullcontext()
    try:
        with requester:
            _audit_start(store, job, worker_id)
            _execute(store, analyzer, job_id, worker_id, cancel, lost, shutdown)
    except BaseException as exc:
        # Ctrl-C or SystemExit in a CLI worker: the job is not at fault, let another worker resume it.
        # (After an ordinary error the job stays claimed; it is taken over once its heartbeat is stale.)
        if not isinstance(exc, Exception) and not lost.is_set():
            store.release_job(job_id, worker_id)
        raise
    finally:
        over.set()
        watcher.join()


def _execute(
    store: Store,
    analyzer: BatchAnalyzer,
    job_id: str,
    worker_id: str,
    cancel: threading.Event,
    lost: threading.Event,
    shutdown: threading.Event | None,
) -> None:
    recorded: set[str] = set()

    def record(report: SessionReport) -> None:
        if report.session_id not in recorded:
            store.record_job_result(job_id, report.session_id, report.model_dump(mode="json"), report.error)
            recorded.add(report.session_id)

    def progress(_done: int, _total: int, report: SessionReport) -> None:
        record(report)
        if store.stop_requested(job_id) or (shutdown is not None and shutdown.is_set()):
            cancel.set()

    pending = store.job_sessions(job_id, pending_only=True)
    if pending and not cancel.is_set():
        try:
            reports = analyzer.analyze_batch(pending, progress=progress, cancel=cancel)
        except Exception as exc:
            if not lost.is_set():
                log.warning("job %s failed", job_id, exc_info=True)
                store.set_job_status(job_id, "failed", error=f"analysis failed: {type(exc).__name__}: {exc}")
                _audit(store, job_id, worker_id)
            return
        # Covers reports an analyzer returned without announcing them to `progress`.
        for report in reports:
            record(report)

    if lost.is_set():
        log.warning("job %s was taken over by another worker; leaving it", job_id)
        return
    if shutdown is not None and shutdown.is_set():
        store.release_job(job_id, worker_id)
        return
    job = store.get_job(job_id)
    if job is None or job.status not in ("running", "stopping"):
        return  # finished or deleted by someone else meanwhile
    if job.done < job.total:
        if job.status == "stopping":
            store.set_job_status(job_id, "stopped")
        else:
            missing = job.total - job.done
            store.set_job_status(
                job_id,
                "failed",
                error=f"{missing} of {job.total} sessions were not analyzed (the analyzer returned early)",
            )
        _audit(store, job_id, worker_id)
        return

    errors = [r["error"] for r in job.results if r["error"]]
    if len(errors) == job.total:
        # e.g. a rejected key: a summary of nothing but failures would only hide that.
        store.set_job_status(job_id, "failed", error=f"every session failed; the first error: {errors[0]}")
        _audit(store, job_id, worker_id)
        return
    reports = [SessionReport.model_validate(r["report"]) for r in job.results if r["report"] is not None]
    try:
        summary = analyzer.summarize(store.job_sessions(job_id), reports)
    except Exception as exc:  # every session is analyzed; the summary is the extra
        log.warning("summary for job %s failed", job_id, exc_info=True)
        store.set_job_status(job_id, "done", error=f"summary could not be made: {type(exc).__name__}: {exc}")
    else:
        store.set_job_status(job_id, "done", summary=summary.model_dump(mode="json"))
    _audit(store, job_id, worker_id)


def _audit_start(store: Store, job: JobRecord, worker_id: str) -> None:
    """The worker took the job up (first time, or resuming one whose worker stopped)."""
    resumed = f", resuming after {job.done} done" if job.done else ""
    store.audit(
        f"worker:{worker_id}",
        "batch_job",
        provider=job.provider,
        model=job.model,
        outcome="running",
        detail=f"job {job.id}: run by worker {worker_id}, {job.total} sessions{resumed}",
        dataset_id=job.dataset_id,
    )


def _audit(store: Store, job_id: str, worker_id: str) -> None:
    job = store.get_job(job_id)
    if job is None:
        return
    tokens = sum(
        int(((r["report"] or {}).get("usage") or {}).get("total_tokens", 0) or 0) for r in job.results
    )
    if job.summary:
        tokens += int((job.summary.get("usage") or {}).get("total_tokens", 0) or 0)
    store.audit(
        f"worker:{worker_id}",
        "batch_job",
        session_ids=[r["session_id"] for r in job.results],
        provider=job.provider,
        model=job.model,
        tokens=tokens,
        outcome=job.status,
        detail=f"job {job_id}: run by worker {worker_id}, {job.done} of {job.total} sessions"
        + (f"; {job.error}" if job.error else ""),
        dataset_id=job.dataset_id,
    )


class Retention:
    """Data sets older than `days` (unpinned) go, with their sessions, frames, jobs and orphaned
    analyses: once when the worker starts, then once per `every` (a day). Every purged data set is
    an audit row by `retention`. `days` 0 keeps everything. The clock is injectable (tests).

    Several workers on one store may each purge: the purge is one transaction of idempotent
    deletes, so the second finds nothing left and writes no row.
    """

    ACTOR = "retention"

    def __init__(
        self,
        store: Store,
        days: int,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        every: timedelta = timedelta(days=1),
    ) -> None:
        self.store, self.days, self.clock, self.every = store, days, clock, every
        self.last_run: datetime | None = None

    def run(self) -> list[DatasetInfo]:
        now = self.clock()
        self.last_run = now
        if self.days <= 0:
            return []
        cutoff = now - timedelta(days=self.days)
        gone = self.store.purge_datasets_before(cutoff)
        for info in gone:
            self.store.audit(
                self.ACTOR,
                "purge",
                outcome="deleted",
                dataset_id=info.id,
                detail=f"{info.name!r}: {info.session_count} sessions imported {info.created_at:%Y-%m-%d}, "
                f"older than {self.days} days (RETENTION_DAYS)",
            )
        if gone:
            log.info("retention purged %d data sets older than %s", len(gone), cutoff.isoformat())
        return gone

    def run_if_due(self) -> list[DatasetInfo]:
        if self.last_run is not None and self.clock() - self.last_run < self.every:
            return []
        return self.run()


def work_forever(
    store: Store,
    analyzer: BatchAnalyzer,
    worker_id: str,
    poll_s: float = 1.0,
    stop: threading.Event | None = None,
    retention: Retention | None = None,
) -> None:
    """Claim and run jobs until `stop` is set (`python -m chatkit worker`, or a BackgroundWorker);
    between jobs, purge what `retention` says is too old (at start, then daily)."""
    stop = stop or threading.Event()
    log.info("worker %s polling %s for jobs", worker_id, store.display_url)
    while not stop.is_set():
        if retention is not None:
            try:
                retention.run_if_due()
            except Exception:  # the database may be restarting; the next round tries again
                log.warning("worker %s: retention purge failed", worker_id, exc_info=True)
        try:
            job = store.claim_job(worker_id)
        except Exception:  # the database may be restarting; keep polling
            log.warning("worker %s could not poll for jobs", worker_id, exc_info=True)
            stop.wait(poll_s)
            continue
        if job is None:
            stop.wait(poll_s)
            continue
        log.info("worker %s runs job %s (%d of %d done)", worker_id, job.id, job.done, job.total)
        try:
            run_job(store, analyzer, job.id, worker_id, shutdown=stop)
        except Exception:  # the job stays claimable once its heartbeat is stale
            log.exception("worker %s: job %s broke off", worker_id, job.id)


class BackgroundWorker:
    """A daemon thread in the app process that runs queued jobs; one per store URL per process.

    Get it with `BackgroundWorker.shared(store, analyzer)`; `start()` is idempotent, so every page
    (or every Streamlit rerun) may call it.
    """

    _shared: ClassVar[dict[str, BackgroundWorker]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        store: Store,
        analyzer: BatchAnalyzer,
        *,
        poll_s: float = 1.0,
        worker_id: str | None = None,
        retention: Retention | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.analyzer = analyzer
        self.poll_s = poll_s
        self.worker_id = worker_id or default_worker_id()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def shared(cls, store: Store, analyzer: BatchAnalyzer, *, poll_s: float = 1.0) -> BackgroundWorker:
        """The process's worker for `store.url` (created on first call; later calls return it)."""
        with cls._shared_lock:
            worker = cls._shared.get(store.url)
            if worker is None:
                worker = cls._shared[store.url] = cls(store, analyzer, poll_s=poll_s)
            return worker

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> BackgroundWorker:
        with self._lock:
            if not self.alive:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=work_forever,
                    args=(self.store, self.analyzer, self.worker_id, self.poll_s, self._stop, self.retention),
                    name=f"chatkit-worker-{self.worker_id}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop polling; a job in progress is handed back (queued) with what is done kept."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._shared_lock:
            if self._shared.get(self.store.url) is self:
                del self._shared[self.store.url]
