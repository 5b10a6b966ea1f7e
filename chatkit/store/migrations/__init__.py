"""The store's schema as Alembic migrations, run by the store itself when it opens a database.

No alembic.ini: `upgrade(conn)` builds the configuration in code and runs `env.py` on the caller's
connection, inside the caller's transaction. That transaction is what makes two processes opening
one fresh database at once safe: on SQLite it began with BEGIN IMMEDIATE (the database write lock),
on PostgreSQL it first takes a transaction-scoped advisory lock; the second opener waits, then finds
the schema at head and does nothing.

A database made before migrations existed (no `alembic_version` table) is adopted in place: the
first revision creates only the tables and indexes it lacks, so its rows stay as they are.

A schema change is a new file in versions/ (script.py.mako is its template) whose `down_revision`
is the current head, plus the same change in schema.py; tests/store/test_migrations.py fails until
a database upgraded to head and schema.py agree.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent
# Any constant works: it names "the chatkit schema migration" among the server's advisory locks.
_PG_LOCK_KEY = 7_243_198_311


def config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = conn
    return cfg


@functools.cache
def head() -> str:
    """The newest revision of this code (read from versions/ once per process)."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None, "no migrations in chatkit/store/migrations/versions"
    return revision


def current(conn: Connection) -> str | None:
    """The database's revision; None before any migration ran (empty, or made before migrations)."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection) -> None:
    """Bring the database on `conn` (in an open write transaction) to head; a no-op when it is there."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    at = current(conn)
    if at == head():
        return
    if at is not None and at not in _known():
        raise RuntimeError(
            f"the database's schema is at revision {at!r}, which this version of chatkit does not know "
            f"(its newest is {head()!r}): it was upgraded by a newer chatkit; run that version"
        )
    command.upgrade(config(conn), "head")


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(r.revision for r in ScriptDirectory.from_config(config()).walk_revisions())
