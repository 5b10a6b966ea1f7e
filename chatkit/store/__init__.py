"""Persistent store: data sets, the analyses cache, the audit log and background jobs.

SQLAlchemy Core over SQLite (a file, WAL mode) by default, or any SQLAlchemy URL; PostgreSQL with
psycopg 3 is the supported server database when several dashboard replicas or workers share one store.
Nothing secret is ever written: sessions arrive secret-free from the model, and every report or
summary is checked for secret-like keys before it is stored.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from chatkit.domain.models import ChatKitSession
from chatkit.domain.secrets import assert_secret_free, redact_text
from chatkit.settings import Settings

JOB_STATUSES = ("queued", "running", "stopping", "stopped", "done", "failed")
FINISHED_STATUSES = frozenset({"stopped", "done", "failed"})
# A running job whose worker has not beaten its heart for this long is taken over by another worker.
DEFAULT_STALE_AFTER_S = 30.0
# Audit rows keep this many ids (and the full count): a 100k-session batch must not make a 5 MB row.
AUDIT_MAX_IDS = 1000
_CHUNK = 5000


class _UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Always aware UTC in Python; SQLite keeps no offset, so store UTC and re-attach it on read."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

datasets_table = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", _UTCDateTime, nullable=False),
    sa.Column("source_files", sa.JSON, nullable=False),
    sa.Column("session_count", sa.Integer, nullable=False),
)

dataset_sessions = sa.Table(
    "dataset_sessions",
    metadata,
    sa.Column("dataset_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # canonical JSON of the secret-free session
    # One session of a data set without loading the rest (the Session page, deep links). `position`
    # is in it so "the first of that id" is read off the index; without it SQLite walks the data set.
    sa.Index("ix_dataset_sessions_lookup", "dataset_id", "session_id", "position"),
)

# Derived tables of a data set (parquet bytes of its facts frame), one per `version` of the code that
# built them: a new version is built next to the old ones, never read from them.
dataset_frames = sa.Table(
    "dataset_frames",
    metadata,
    sa.Column("dataset_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", _UTCDateTime, nullable=False),
)

analyses = sa.Table(
    "analyses",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("completion_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("total_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", _UTCDateTime, nullable=False),
)

audit_log_table = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", _UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("session_ids", sa.JSON, nullable=False),
    sa.Column("session_count", sa.Integer, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("created_at", _UTCDateTime, nullable=False),
    sa.Column("updated_at", _UTCDateTime, nullable=False),
    sa.Column("worker_id", sa.Text, nullable=True),
    sa.Column("heartbeat_at", _UTCDateTime, nullable=True),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_jobs_status_created", "status", "created_at"),
)

job_sessions_table = sa.Table(
    "job_sessions",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("session", sa.Text, nullable=False),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("done", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_job_sessions_job_session", "job_id", "session_id"),
)


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    created_at: datetime
    source_files: list[str]
    session_count: int


@dataclass(frozen=True)
class DatasetRecord(DatasetInfo):
    sessions: list[ChatKitSession] = field(default_factory=list)


@dataclass(frozen=True)
class JobRecord:
    id: str
    dataset_id: str | None
    status: str
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
    # Finished sessions in job order: {"session_id", "report", "error"}; empty from list_jobs.
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


def _now() -> datetime:
    return datetime.now(UTC)


def dataset_id_for(texts: Sequence[str]) -> str:
    """Content hash of a data set: the same sessions (in any order) give the same id."""
    digests = sorted(hashlib.sha256(text.encode()).hexdigest() for text in texts)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


class Store:
    """One store per process and URL is enough: it is safe to share between threads."""

    def __init__(self, url: str, *, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        self.url = url
        self.stale_after = timedelta(seconds=stale_after_s)
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.engine = _create_engine(url)
        self._postgres = self.dialect == "postgresql"
        # SQLite: writers take the write lock at BEGIN (see _create_engine), so they queue on the
        # busy timeout instead of failing when a read transaction tries to upgrade.
        self._write_engine: Engine = (
            self.engine.execution_options(chatkit_write=True) if self.dialect == "sqlite" else self.engine
        )
        # An in-memory SQLite database is one shared connection: serialize its users.
        in_memory = self.dialect == "sqlite" and parsed.database in (None, "", ":memory:")
        self._serial = threading.RLock() if in_memory else None
        self._create_tables()

    def _create_tables(self) -> None:
        """Idempotent; two processes starting on an empty database may race, so retry once."""
        try:
            self._create_schema()
        except sa.exc.DBAPIError:
            self._create_schema()

    def _create_schema(self) -> None:
        metadata.create_all(self._write_engine)
        # create_all makes indexes only with their table: add those new since a database was created.
        for index in dataset_sessions.indexes:
            index.create(self._write_engine, checkfirst=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        if not settings.chatkit_database_url:
            settings.chatkit_data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url)

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._lock(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock(), self._write_engine.begin() as conn:
            yield conn

    def _lock(self) -> threading.RLock | nullcontext[None]:
        return self._serial if self._serial is not None else nullcontext()

    def _insert_new(
        self, conn: Connection, table: sa.Table, row: dict[str, Any], key: str | Sequence[str]
    ) -> bool:
        """Insert unless a row with this key exists (race-free); True when this call inserted it."""
        keys = [key] if isinstance(key, str) else list(key)
        if self.dialect in ("postgresql", "sqlite"):
            module = postgresql if self._postgres else sqlite
            stmt = (
                module.insert(table).on_conflict_do_nothing(index_elements=keys).returning(table.c[keys[0]])
            )
            return conn.execute(stmt, row).first() is not None
        # Other SQLAlchemy backends: let the primary key decide, inside a savepoint.
        try:
            with conn.begin_nested():
                conn.execute(table.insert(), row)
        except sa.exc.IntegrityError:
            return False
        return True

    def _upsert(
        self, conn: Connection, table: sa.Table, row: dict[str, Any], key: str | Sequence[str]
    ) -> None:
        """Insert, or replace the row with this key (one column or several); race-free."""
        keys = [key] if isinstance(key, str) else list(key)
        if self.dialect in ("postgresql", "sqlite"):
            module = postgresql if self._postgres else sqlite
            stmt = module.insert(table)
            update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
            conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), row)
        elif not self._insert_new(conn, table, row, keys):
            match = [table.c[k] == row[k] for k in keys]
            conn.execute(table.update().where(*match).values(row))

    # ---- data sets -------------------------------------------------------------------------------

    def save_dataset(
        self, name: str, sessions: Sequence[ChatKitSession], source_files: Sequence[str] = ()
    ) -> str:
        """Saving the same sessions again returns the same id and keeps the first name and date."""
        return self.insert_dataset(name, sessions, source_files)[0]

    def insert_dataset(
        self, name: str, sessions: Sequence[ChatKitSession], source_files: Sequence[str] = ()
    ) -> tuple[str, bool]:
        """As save_dataset, and whether this call stored it (False: it was there, in its first order)."""
        texts = [session.canonical_json() for session in sessions]
        dataset_id = dataset_id_for(texts)
        row = {
            "id": dataset_id,
            "name": name.strip() or "unnamed data set",
            "created_at": _now(),
            "source_files": list(source_files),
            "session_count": len(texts),
        }
        with self._write() as conn:
            inserted = self._insert_new(conn, datasets_table, row, "id")
            if inserted:
                rows = [
                    {"dataset_id": dataset_id, "position": i, "session_id": s.id, "data": text}
                    for i, (s, text) in enumerate(zip(sessions, texts, strict=True))
                ]
                for chunk in _chunks(rows):
                    conn.execute(dataset_sessions.insert(), chunk)
        return dataset_id, inserted

    def load_dataset(self, dataset_id: str) -> DatasetRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(datasets_table).where(datasets_table.c.id == dataset_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            texts = conn.execute(
                sa.select(dataset_sessions.c.data)
                .where(dataset_sessions.c.dataset_id == dataset_id)
                .order_by(dataset_sessions.c.position)
            ).scalars()
            sessions = [_stored_session(text) for text in texts]
        return DatasetRecord(**_dataset_info(row).__dict__, sessions=sessions)

    def dataset_info(self, dataset_id: str) -> DatasetInfo | None:
        """The data set's name, date, files and size, without reading its sessions."""
        with self._read() as conn:
            row = (
                conn.execute(sa.select(datasets_table).where(datasets_table.c.id == dataset_id))
                .mappings()
                .first()
            )
        return None if row is None else _dataset_info(row)

    def load_session(self, dataset_id: str, session_id: str) -> ChatKitSession | None:
        """One session of a data set (one indexed row); the first by position if an id repeats."""
        t = dataset_sessions
        query = (
            sa.select(t.c.data)
            .where(t.c.dataset_id == dataset_id, t.c.session_id == session_id)
            .order_by(t.c.position)
            .limit(1)
        )
        with self._read() as conn:
            text = conn.execute(query).scalar()
        return None if text is None else _stored_session(text)

    def load_sessions(
        self, dataset_id: str, session_ids: Sequence[str] | None = None
    ) -> list[ChatKitSession]:
        """The data set's sessions in data set order: all, or those whose id is in `session_ids`.

        Ids not in the data set are left out; an unknown data set gives [].
        """
        t = dataset_sessions
        query = sa.select(t.c.position, t.c.data).where(t.c.dataset_id == dataset_id)
        with self._read() as conn:
            if session_ids is None:
                rows = list(conn.execute(query.order_by(t.c.position)))
            else:
                # Chunked: a backend caps the parameters of one statement (SQLite: 32,766).
                wanted = sorted(set(session_ids))
                rows = []
                for start in range(0, len(wanted), _CHUNK):
                    chunk = wanted[start : start + _CHUNK]
                    rows.extend(conn.execute(query.where(t.c.session_id.in_(chunk))))
                rows.sort(key=lambda r: r.position)
        return [_stored_session(r.data) for r in rows]

    def list_datasets(self) -> list[DatasetInfo]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(datasets_table).order_by(datasets_table.c.created_at.desc())
            ).mappings()
            return [_dataset_info(row) for row in rows]

    def delete_dataset(self, dataset_id: str) -> None:
        """The data set, its sessions and every frame derived from it."""
        with self._write() as conn:
            conn.execute(dataset_frames.delete().where(dataset_frames.c.dataset_id == dataset_id))
            conn.execute(dataset_sessions.delete().where(dataset_sessions.c.dataset_id == dataset_id))
            conn.execute(datasets_table.delete().where(datasets_table.c.id == dataset_id))

    # ---- derived frames --------------------------------------------------------------------------

    def save_frame(self, dataset_id: str, version: str, data: bytes) -> None:
        """Store (or replace) the serialized frame of a data set, built by code of `version`."""
        row = {"dataset_id": dataset_id, "version": version, "data": bytes(data), "created_at": _now()}
        with self._write() as conn:
            self._upsert(conn, dataset_frames, row, ("dataset_id", "version"))

    def load_frame(self, dataset_id: str, version: str) -> bytes | None:
        """The bytes given to save_frame for this data set and version, or None."""
        t = dataset_frames
        query = sa.select(t.c.data).where(t.c.dataset_id == dataset_id, t.c.version == version)
        with self._read() as conn:
            data = conn.execute(query).scalar()
        return None if data is None else bytes(data)

    # ---- analyses cache --------------------------------------------------------------------------

    def get_analysis(self, key: str) -> dict | None:
        """The cached report dict (as given to put_analysis), or None."""
        with self._read() as conn:
            return conn.execute(sa.select(analyses.c.report).where(analyses.c.key == key)).scalar()

    def put_analysis(
        self, key: str, session_id: str, provider: str, model: str, report: dict, usage: dict
    ) -> None:
        """Insert or replace (an "Analyze again" result supersedes the cached one); safe under races."""
        assert_secret_free(report, "an analysis report")
        row = {
            "key": key,
            "session_id": session_id,
            "provider": provider,
            "model": model,
            "report": report,
            "prompt_tokens": int(usage.get("prompt_tokens", 0) or 0),
            "completion_tokens": int(usage.get("completion_tokens", 0) or 0),
            "total_tokens": int(usage.get("total_tokens", 0) or 0),
            "created_at": _now(),
        }
        with self._write() as conn:
            self._upsert(conn, analyses, row, "key")

    def cache_stats(self) -> dict:
        with self._read() as conn:
            entries, tokens = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(analyses.c.total_tokens), 0))
            ).one()
        return {"entries": int(entries), "tokens": int(tokens)}

    # ---- audit -----------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        *,
        session_ids: Sequence[str] = (),
        provider: str = "",
        model: str = "",
        tokens: int = 0,
        outcome: str = "ok",
        detail: str = "",
    ) -> None:
        ids = list(session_ids)
        row = {
            "at": _now(),
            "actor": redact_text(actor),
            "action": action,
            "session_ids": ids[:AUDIT_MAX_IDS],
            "session_count": len(ids),
            "provider": provider,
            "model": model,
            "tokens": int(tokens),
            "outcome": outcome,
            "detail": redact_text(detail),
        }
        with self._write() as conn:
            conn.execute(audit_log_table.insert(), row)

    def audit_log(self, limit: int = 100) -> list[dict]:
        """Newest first."""
        query = sa.select(audit_log_table).order_by(audit_log_table.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    # ---- jobs ------------------------------------------------------------------------------------

    def create_job(
        self,
        dataset_id: str | None,
        session_ids: Sequence[str],
        sessions: Sequence[ChatKitSession],
        *,
        provider: str,
        model: str,
    ) -> str:
        """A queued job over `sessions` (only those in `session_ids` when given).

        With no `sessions`, they are read from data set `dataset_id`. Ids repeated are analyzed once.
        """
        if not sessions and dataset_id:
            record = self.load_dataset(dataset_id)
            if record is None:
                raise ValueError(f"data set {dataset_id!r} does not exist")
            sessions = record.sessions
        wanted = set(session_ids)
        chosen: dict[str, ChatKitSession] = {}
        for session in sessions:
            if (not wanted or session.id in wanted) and session.id not in chosen:
                chosen[session.id] = session
        if not chosen:
            raise ValueError("a job needs at least one session")
        job_id = uuid.uuid4().hex
        now = _now()
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
                    "status": "queued",
                    "provider": provider,
                    "model": model,
                    "total": len(rows),
                    "done": 0,
                    "created_at": now,
                    "updated_at": now,
                    "worker_id": None,
                    "heartbeat_at": None,
                    "summary": None,
                    "error": None,
                },
            )
            for chunk in _chunks(rows):
                conn.execute(job_sessions_table.insert(), chunk)
        return job_id

    def claim_job(self, worker_id: str) -> JobRecord | None:
        """Take the oldest queued job, or a running one whose worker stopped beating (a restart).

        Postgres: the candidate row is locked with FOR UPDATE SKIP LOCKED, so concurrent claimers
        pass over each other's rows. SQLite: the write transaction holds the database write lock
        from BEGIN IMMEDIATE. Either way the UPDATE re-checks the condition, so one job, one worker.
        """
        now = _now()
        cutoff = now - self.stale_after
        claimable = sa.or_(
            jobs.c.status == "queued",
            sa.and_(jobs.c.status == "running", jobs.c.heartbeat_at < cutoff),
        )
        with self._write() as conn:
            # A stop request whose worker died can never be acknowledged by that worker.
            conn.execute(
                jobs.update()
                .where(jobs.c.status == "stopping", jobs.c.heartbeat_at < cutoff)
                .values(status="stopped", updated_at=now)
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
                .values(status="running", worker_id=worker_id, heartbeat_at=now, updated_at=now)
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
                    .values(done=jobs.c.done + updated.rowcount, updated_at=_now())
                )

    def set_job_status(
        self, job_id: str, status: str, *, summary: dict | None = None, error: str | None = None
    ) -> None:
        if status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}; expected one of {', '.join(JOB_STATUSES)}")
        values: dict[str, Any] = {"status": status, "updated_at": _now()}
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
                .where(jobs.c.id == job_id, jobs.c.status.in_(("queued", "running")))
                .values(
                    status=sa.case((jobs.c.status == "queued", "stopped"), else_="stopping"),
                    updated_at=_now(),
                )
            )

    def release_job(self, job_id: str, worker_id: str) -> None:
        """A worker shutting down hands its job back: queued again (or stopped if a stop was asked)."""
        with self._write() as conn:
            conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    jobs.c.worker_id == worker_id,
                    jobs.c.status.in_(("running", "stopping")),
                )
                .values(
                    status=sa.case((jobs.c.status == "stopping", "stopped"), else_="queued"),
                    worker_id=None,
                    updated_at=_now(),
                )
            )

    def stop_requested(self, job_id: str) -> bool:
        """True when the job should not go on: stop asked, or it is finished or gone."""
        with self._read() as conn:
            status = conn.execute(sa.select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
        return status not in ("queued", "running")

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
            return [_stored_session(text) for text in conn.execute(query).scalars()]

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """False when the job is no longer this worker's to run (taken over, or finished)."""
        with self._write() as conn:
            beat = conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    jobs.c.worker_id == worker_id,
                    jobs.c.status.in_(("running", "stopping")),
                )
                .values(heartbeat_at=_now())
            )
        return beat.rowcount == 1


# Rows are written only from `ChatKitSession.canonical_json()`, which is already secret-free: reading
# them back skips the model's secret stripping (a third of the cost of loading a session).
_STORED = {"secrets_stripped": True}


def _stored_session(text: str) -> ChatKitSession:
    return ChatKitSession.model_validate_json(text, context=_STORED)


def _dataset_info(row: Mapping[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        source_files=list(row["source_files"] or []),
        session_count=row["session_count"],
    )


def _job_record(row: Mapping[str, Any], results: list[dict[str, Any]]) -> JobRecord:
    return JobRecord(**{c.name: row[c.name] for c in jobs.c}, results=results)


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)

    in_memory = parsed.database in (None, "", ":memory:")
    if not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": 30},
        **({"poolclass": StaticPool} if in_memory else {}),
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we emit it ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("chatkit_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


__all__ = [
    "FINISHED_STATUSES",
    "JOB_STATUSES",
    "DatasetInfo",
    "DatasetRecord",
    "JobRecord",
    "Store",
    "assert_secret_free",
    "dataset_id_for",
    "redact_text",
]
