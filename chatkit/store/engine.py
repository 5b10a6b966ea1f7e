"""The store's connection to its database: engines, transactions and race-free inserts.

SQLite (a file, WAL mode) by default, or any SQLAlchemy URL; PostgreSQL with psycopg 3 is the
supported server database. Every other store module writes its queries against `StoreEngine`'s
`_read` / `_write` transactions and `_insert_new` / `_upsert` helpers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from chatkit.settings import Settings
from chatkit.store import migrations

# A running job whose worker has not beaten its heart for this long is taken over by another worker.
DEFAULT_STALE_AFTER_S = 30.0
# Rows per INSERT / ids per IN (...): a backend caps the parameters of one statement (SQLite: 32,766).
CHUNK = 5000


def now() -> datetime:
    return datetime.now(UTC)


def chunks(rows: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


class StoreEngine:
    """Opening one upgrades the database's schema to this code's (see `migrations`)."""

    def __init__(self, url: str, *, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> None:
        self.url = url
        self.stale_after = timedelta(seconds=stale_after_s)
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.engine = create_engine(url)
        self._postgres = self.dialect == "postgresql"
        # SQLite: writers take the write lock at BEGIN (see create_engine), so they queue on the
        # busy timeout instead of failing when a read transaction tries to upgrade.
        self._write_engine: Engine = (
            self.engine.execution_options(chatkit_write=True) if self.dialect == "sqlite" else self.engine
        )
        # An in-memory SQLite database is one shared connection: serialize its users.
        in_memory = self.dialect == "sqlite" and parsed.database in (None, "", ":memory:")
        self._serial = threading.RLock() if in_memory else None
        with self._write() as conn:
            migrations.upgrade(conn)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
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


def create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)

    in_memory = parsed.database in (None, "", ":memory:")
    if not in_memory:
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
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
