"""Persistent store: data sets, the analyses cache, the audit log and background jobs.

SQLAlchemy Core over SQLite (a file, WAL mode) by default, or any SQLAlchemy URL; PostgreSQL with
psycopg 3 is the supported server database when several dashboard replicas or workers share one store.
Nothing secret is ever written: sessions arrive secret-free from the model, and every report or
summary is checked for secret-like keys before it is stored.

`Store` is the one object callers hold; its methods come from one module per role:

    engine.py          engines, SQLite pragmas, read/write transactions, upserts (and opening runs
                       the migrations in migrations/, which own the schema; schema.py mirrors it)
    dataset_tables.py  data sets, their sessions and stored frames (bytes)
    cache.py           the analyses cache
    audit.py           the audit log
    jobs.py            the job queue and JobStatus
    datasets.py        facts frames built, stored and read as parquet (pandas: import it when used)
"""

from __future__ import annotations

from chatkit.domain.secrets import assert_secret_free, redact_text
from chatkit.store.audit import AUDIT_MAX_IDS, AuditLog, acting_as, current_actor, set_actor
from chatkit.store.cache import AnalysesCache
from chatkit.store.dataset_tables import DatasetInfo, DatasetRecord, DatasetTables, dataset_id_for
from chatkit.store.engine import DEFAULT_STALE_AFTER_S
from chatkit.store.jobs import JobQueue, JobRecord, JobStatus
from chatkit.store.schema import (
    analyses,
    audit_log_table,
    dataset_frames,
    dataset_sessions,
    datasets_table,
    job_sessions_table,
    jobs,
    metadata,
)


class Store(DatasetTables, AnalysesCache, AuditLog, JobQueue):
    """One store per process and URL is enough: it is safe to share between threads."""


__all__ = [
    "AUDIT_MAX_IDS",
    "DEFAULT_STALE_AFTER_S",
    "DatasetInfo",
    "DatasetRecord",
    "JobRecord",
    "JobStatus",
    "Store",
    "acting_as",
    "analyses",
    "assert_secret_free",
    "audit_log_table",
    "current_actor",
    "dataset_frames",
    "dataset_id_for",
    "dataset_sessions",
    "datasets_table",
    "job_sessions_table",
    "jobs",
    "metadata",
    "redact_text",
    "set_actor",
]
