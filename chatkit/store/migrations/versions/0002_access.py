"""Who did what to which data set, and data sets kept past retention.

Revision ID: 0002_access
Revises: 0001_v1
Create Date: 2026-12-01

`audit_log.dataset_id` lets the Audit page answer "who did what to this data set" without parsing
free text (NULL for rows about no data set, and for every row written before this revision).
`datasets.pinned` keeps a data set when retention purges the old ones; existing data sets start
unpinned, as every data set did before. Both are plain ADD COLUMNs with a server default, which
SQLite and PostgreSQL do in place without copying the table. Like 0001 it adds only what is
missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_access"
down_revision = "0001_v1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Idempotent like 0001: a database whose version table was lost is adopted again from 0001,
    # and must not fail here on columns it already has.
    inspector = sa.inspect(op.get_bind())
    audit_columns = {c["name"] for c in inspector.get_columns("audit_log")}
    if "dataset_id" not in audit_columns:
        op.add_column("audit_log", sa.Column("dataset_id", sa.String(64), nullable=True))
    if "ix_audit_log_dataset_id" not in {i["name"] for i in inspector.get_indexes("audit_log")}:
        op.create_index("ix_audit_log_dataset_id", "audit_log", ["dataset_id"])
    if "pinned" not in {c["name"] for c in inspector.get_columns("datasets")}:
        op.add_column("datasets", sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("pinned")
    op.drop_index("ix_audit_log_dataset_id", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("dataset_id")
