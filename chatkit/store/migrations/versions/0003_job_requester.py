"""Jobs remember who asked for them.

Revision ID: 0003_job_requester
Revises: 0002_access
Create Date: 2026-12-02

`jobs.requested_by` is the signed-in person (or API token) who queued a job: the worker that runs it
writes its audit rows (start, each LLM call, the end) in that person's name, so "who spent this"
is answered by a person, not a worker process. Jobs queued before this revision keep NULL, and their
rows name the worker as before. A plain nullable ADD COLUMN, done in place by SQLite and PostgreSQL;
like 0001 and 0002 it adds only what is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_job_requester"
down_revision = "0002_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Idempotent like 0002: a database adopted again from 0001 may already have the column.
    if "requested_by" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}:
        op.add_column("jobs", sa.Column("requested_by", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("requested_by")
