"""The schema as released before migrations (chatkit 0.2, `chatkit/store.py` at 49dc454).

Revision ID: 0001_v1
Revises:
Create Date: 2026-12-01

Idempotent on purpose: a database made by that release has these tables but no `alembic_version`,
so this revision adopts it, creating only the tables and indexes it lacks (its older copies may
predate `ix_dataset_sessions_lookup`) and leaving every row alone. The column types are spelled out
rather than imported from schema.py: a revision is a record of what was, and must not follow later edits.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_v1"
down_revision = None
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)  # schema.UTCDateTime's column type


def tables() -> dict[str, list[sa.Column | sa.PrimaryKeyConstraint]]:
    """New objects on every call: a Column belongs to the one table it was first given to."""
    return {
        "datasets": [
            sa.Column("id", sa.String(64), nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("created_at", UTC_DATETIME, nullable=False),
            sa.Column("source_files", sa.JSON, nullable=False),
            sa.Column("session_count", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ],
        "dataset_sessions": [
            sa.Column("dataset_id", sa.String(64), nullable=False),
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("session_id", sa.Text, nullable=False),
            sa.Column("data", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("dataset_id", "position"),
        ],
        "dataset_frames": [
            sa.Column("dataset_id", sa.String(64), nullable=False),
            sa.Column("version", sa.String(64), nullable=False),
            sa.Column("data", sa.LargeBinary, nullable=False),
            sa.Column("created_at", UTC_DATETIME, nullable=False),
            sa.PrimaryKeyConstraint("dataset_id", "version"),
        ],
        "analyses": [
            sa.Column("key", sa.String(200), nullable=False),
            sa.Column("session_id", sa.Text, nullable=False),
            sa.Column("provider", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("report", sa.JSON, nullable=False),
            sa.Column("prompt_tokens", sa.Integer, nullable=False),
            sa.Column("completion_tokens", sa.Integer, nullable=False),
            sa.Column("total_tokens", sa.Integer, nullable=False),
            sa.Column("created_at", UTC_DATETIME, nullable=False),
            sa.PrimaryKeyConstraint("key"),
        ],
        "audit_log": [
            sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
            sa.Column("at", UTC_DATETIME, nullable=False),
            sa.Column("actor", sa.Text, nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("session_ids", sa.JSON, nullable=False),
            sa.Column("session_count", sa.Integer, nullable=False),
            sa.Column("provider", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("tokens", sa.Integer, nullable=False),
            sa.Column("outcome", sa.Text, nullable=False),
            sa.Column("detail", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("id"),
        ],
        "jobs": [
            sa.Column("id", sa.String(32), nullable=False),
            sa.Column("dataset_id", sa.String(64), nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("provider", sa.Text, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("done", sa.Integer, nullable=False),
            sa.Column("created_at", UTC_DATETIME, nullable=False),
            sa.Column("updated_at", UTC_DATETIME, nullable=False),
            sa.Column("worker_id", sa.Text, nullable=True),
            sa.Column("heartbeat_at", UTC_DATETIME, nullable=True),
            sa.Column("summary", sa.JSON, nullable=True),
            sa.Column("error", sa.Text, nullable=True),
            sa.PrimaryKeyConstraint("id"),
        ],
        "job_sessions": [
            sa.Column("job_id", sa.String(32), nullable=False),
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("session_id", sa.Text, nullable=False),
            sa.Column("session", sa.Text, nullable=False),
            sa.Column("result", sa.JSON, nullable=True),
            sa.Column("error", sa.Text, nullable=True),
            sa.Column("done", sa.Boolean, nullable=False),
            sa.PrimaryKeyConstraint("job_id", "position"),
        ],
    }


INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_dataset_sessions_lookup": ("dataset_sessions", ["dataset_id", "session_id", "position"]),
    "ix_audit_log_at": ("audit_log", ["at"]),
    "ix_jobs_status_created": ("jobs", ["status", "created_at"]),
    "ix_job_sessions_job_session": ("job_sessions", ["job_id", "session_id"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, columns in tables().items():
        if name not in existing:
            op.create_table(name, *columns)
    for index, (table, indexed) in INDEXES.items():
        have = {i["name"] for i in inspector.get_indexes(table)} if table in existing else set()
        if index not in have:
            op.create_index(index, table, indexed)


def downgrade() -> None:
    for index, (table, _columns) in INDEXES.items():
        op.drop_index(index, table_name=table)
    for name in reversed(tables()):
        op.drop_table(name)
