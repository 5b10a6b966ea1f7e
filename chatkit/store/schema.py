"""The store's tables as SQLAlchemy Core objects: what the queries are written against.

The database's shape itself is made by the migrations (`chatkit/store/migrations/versions`); a test
checks that a database upgraded to head matches these definitions exactly, so the two cannot drift.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


class UTCDateTime(sa.types.TypeDecorator[datetime]):
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
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("source_files", sa.JSON, nullable=False),
    sa.Column("session_count", sa.Integer, nullable=False),
    # Kept by retention (migration 0002); only admins pin.
    sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
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
    sa.Column("created_at", UTCDateTime, nullable=False),
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
    sa.Column("created_at", UTCDateTime, nullable=False),
)

audit_log_table = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("session_ids", sa.JSON, nullable=False),
    sa.Column("session_count", sa.Integer, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    # The data set the action was about, when there was one (migration 0002).
    sa.Column("dataset_id", sa.String(64), nullable=True, index=True),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # a JobStatus value (store/jobs.py)
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("worker_id", sa.Text, nullable=True),
    sa.Column("heartbeat_at", UTCDateTime, nullable=True),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # Who asked for the job (migration 0003): the worker writes its audit rows in their name. NULL for
    # jobs queued before 0003 (and by a face that serves no one), whose rows name the worker.
    sa.Column("requested_by", sa.Text, nullable=True),
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
