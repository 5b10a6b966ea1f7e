"""The job queue: batch analyses that any worker process claims, runs, beats for and finishes.

A job's life: queued → running (claimed by one worker) → done | failed, or stopping → stopped when a
stop is asked while it runs (a queued job stops at once). A worker that stops beating loses its
running job to the next claimer; one shutting down hands it back (queued again).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from chatkit.domain.models import ChatKitSession
from chatkit.domain.secrets import assert_secret_free, redact_text
from chatkit.store.audit import acting_for
from chatkit.store.dataset_tables import stored_session
from chatkit.store.engine import StoreEngine, chunks, now
from chatkit.store.schema import dataset_sessions, datasets_table, job_sessions_table, jobs


class JobStatus(StrEnum):
    """A job's state. A StrEnum: it equals its text, so `job.status == "done"` keeps working."""

    queued = "queued"
    running = "running"
    stopping = "stopping"
    stopped = "stopped"
    done = "done"
    failed = "failed"

    @property
    def finished(self) -> bool:
        """Nothing more will happen to the job."""
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.stopped, JobStatus.done, JobStatus.failed})
# A worker may still pick these up or go on with them.
_LIVE = (JobStatus.queued, JobStatus.running)
# A worker holds these (its heartbeat counts).
_OWNED = (JobStatus.running, JobStatus.stopping)


@dataclass(frozen=True)
class JobRecord:
    id: str
    dataset_id: str | None
    status: JobStatus
    provider: str
    model: str
    total: int
    done: int
    created_at: datetime
    updated_at: datetime
    worker_id: str | None
    heartbeat_at: datetime | None
    summary: dict[str, Any] | None
    error: str | None
    # Who queued it (their name is on the worker's audit rows); None before migration 0003.
    requested_by: str | None = None
    # Finished sessions in job order: {"session_id", "report", "error"}; empty from list_jobs.
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status.finished


def _job_record(row: sa.RowMapping, results: list[dict[str, Any]]) -> JobRecord:
    values = {c.name: row[c.name] for c in jobs.c}
    return JobRecord(**{**values, "status": JobStatus(values["status"])}, results=results)


class JobQueue(StoreEngine):
    def create_job(
        self,
        dataset_id: str | None,
        session_ids: Sequence[str],
        sessions: Sequence[ChatKitSession],
        *,
        provider: str,
        model: str,
        requested_by: str | None = None,
    ) -> str:
        """A queued job over `sessions` (only those in `session_ids` when given).

        With no `sessions`, they are read from data set `dataset_id`. Ids repeated are analyzed once.
        `requested_by` (default: whom the caller is `acting_as`, if anyone) is the person the worker
        names on the job's audit rows.
        """
        requester = requested_by if requested_by is not None else acting_for()
        if not sessions and dataset_id:
            sessions = self._dataset_sessions(dataset_id)
        wanted = set(session_ids)
        chosen: dict[str, ChatKitSession] = {}
        for session in sessions:
            if (not wanted or session.id in wanted) and session.id not in chosen:
                chosen[session.id] = session
        if not chosen:
            raise ValueError("a job needs at least one session")
        job_id = uuid.uuid4().hex
        created = now()
        rows = [
            {
                "job_id": job_id,
                "position": i,
                "session_id": s.id,
                "session": s.canonical_json(),
                "result": None,
                "error": None,
                "done": False,
            }
            for i, s in enumerate(chosen.values())
        ]
        with self._write() as conn:
            conn.execute(
                jobs.insert(),
                {
                    "id": job_id,
                    "dataset_id": dataset_id,
                    "status": JobStatus.queued,
                    "provider": provider,
                    "model": model,
                    "total": len(rows),
                    "done": 0,
                    "created_at": created,
                    "updated_at": created,
                    "worker_id": None,
                    "heartbeat_at": None,
                    "summary": None,
                    "error": None,
                    "requested_by": redact_text(requester) if requester else None,
                },
            )
            for chunk in chunks(rows):
                conn.execute(job_sessions_table.insert(), chunk)
        return job_id

    def _dataset_sessions(self, dataset_id: str) -> list[ChatKitSession]:
        with self._read() as conn:
            if conn.execute(sa.select(datasets_table.c.id).where(datasets_table.c.id == dataset_id)).first():
                t = dataset_sessions
                texts = conn.execute(
                    sa.select(t.c.data).where(t.c.dataset_id == dataset_id).order_by(t.c.position)
                ).scalars()
                return [stored_session(text) for text in texts]
        raise ValueError(f"data set {dataset_id!r} does not exist")

    def claim_job(self, worker_id: str) -> JobRecord | None:
        """Take the oldest queued job, or a running one whose worker stopped beating (a restart).

        Postgres: the candidate row is locked with FOR UPDATE SKIP LOCKED, so concurrent claimers
        pass over each other's rows. SQLite: the write transaction holds the database write lock
        from BEGIN IMMEDIATE. Either way the UPDATE re-checks the condition, so one job, one worker.
        """
        at = now()
        cutoff = at - self.stale_after
        claimable = sa.or_(
            jobs.c.status == JobStatus.queued,
            sa.and_(jobs.c.status == JobStatus.running, jobs.c.heartbeat_at < cutoff),
        )
        with self._write() as conn:
            # A stop request whose worker died can never be acknowledged by that worker.
            conn.execute(
                jobs.update()
                .where(jobs.c.status == JobStatus.stopping, jobs.c.heartbeat_at < cutoff)
                .values(status=JobStatus.stopped, updated_at=at)
            )
            candidate = conn.execute(
                sa.select(jobs.c.id)
                .where(claimable)
                .order_by(jobs.c.created_at, jobs.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar()
            if candidate is None:
                return None
            claimed = conn.execute(
                jobs.update()
                .where(jobs.c.id == candidate, claimable)
                .values(status=JobStatus.running, worker_id=worker_id, heartbeat_at=at, updated_at=at)
            )
            if claimed.rowcount != 1:
                return None
        return self.get_job(candidate, with_results=False)

    def record_job_result(self, job_id: str, session_id: str, report: dict | None, error: str | None) -> None:
        """Idempotent: a session already recorded is not counted twice."""
        if report is not None:
            assert_secret_free(report, "a job result")
        with self._write() as conn:
            updated = conn.execute(
                job_sessions_table.update()
                .where(
                    job_sessions_table.c.job_id == job_id,
                    job_sessions_table.c.session_id == session_id,
                    job_sessions_table.c.done.is_(False),
                )
                .values(result=report, error=redact_text(error) if error else None, done=True)
            )
            if updated.rowcount:
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job_id)
                    .values(done=jobs.c.done + updated.rowcount, updated_at=now())
                )

    def set_job_status(
        self, job_id: str, status: JobStatus | str, *, summary: dict | None = None, error: str | None = None
    ) -> None:
        try:
            status = JobStatus(status)
        except ValueError:
            expected = ", ".join(JobStatus)
            raise ValueError(f"unknown job status {status!r}; expected one of {expected}") from None
        values: dict[str, Any] = {"status": status, "updated_at": now()}
        if summary is not None:
            assert_secret_free(summary, "a job summary")
            values["summary"] = summary
        if error is not None:
            values["error"] = redact_text(error)
        with self._write() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))

    def request_stop(self, job_id: str) -> None:
        """A queued job stops at once; a running one is asked to stop (`stopping`) and keeps its results."""
        with self._write() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.in_(_LIVE))
                .values(
                    status=sa.case(
                        (jobs.c.status == JobStatus.queued, JobStatus.stopped), else_=JobStatus.stopping
                    ),
                    updated_at=now(),
                )
            )

    def release_job(self, job_id: str, worker_id: str) -> None:
        """A worker shutting down hands its job back: queued again (or stopped if a stop was asked)."""
        with self._write() as conn:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.status.in_(_OWNED))
                .values(
                    status=sa.case(
                        (jobs.c.status == JobStatus.stopping, JobStatus.stopped), else_=JobStatus.queued
                    ),
                    worker_id=None,
                    updated_at=now(),
                )
            )

    def stop_requested(self, job_id: str) -> bool:
        """True when the job should not go on: stop asked, or it is finished or gone."""
        with self._read() as conn:
            status = conn.execute(sa.select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
        return status not in _LIVE

    def get_job(self, job_id: str, *, with_results: bool = True) -> JobRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
            if row is None:
                return None
            results: list[dict[str, Any]] = []
            if with_results:
                t = job_sessions_table
                results = [
                    {"session_id": r.session_id, "report": r.result, "error": r.error}
                    for r in conn.execute(
                        sa.select(t.c.session_id, t.c.result, t.c.error)
                        .where(t.c.job_id == job_id, t.c.done.is_(True))
                        .order_by(t.c.position)
                    )
                ]
        return _job_record(row, results)

    def list_jobs(self, limit: int = 50) -> list[JobRecord]:
        """Newest first, without per-session results (use get_job for those)."""
        query = sa.select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        with self._read() as conn:
            return [_job_record(row, []) for row in conn.execute(query).mappings()]

    def job_sessions(self, job_id: str, *, pending_only: bool = False) -> list[ChatKitSession]:
        """The job's sessions in order; `pending_only` leaves out those already done."""
        t = job_sessions_table
        query = sa.select(t.c.session).where(t.c.job_id == job_id).order_by(t.c.position)
        if pending_only:
            query = query.where(t.c.done.is_(False))
        with self._read() as conn:
            return [stored_session(text) for text in conn.execute(query).scalars()]

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """False when the job is no longer this worker's to run (taken over, or finished)."""
        with self._write() as conn:
            beat = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.worker_id == worker_id, jobs.c.status.in_(_OWNED))
                .values(heartbeat_at=now())
            )
        return beat.rowcount == 1
