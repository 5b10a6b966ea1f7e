"""The schema lives in Alembic migrations: fresh databases, databases made before migrations, races.

tests/fixtures/store_v1.sqlite was made by the store as released before migrations (49dc454), and
store_v1_postgres.sql is that code's DDL on PostgreSQL; tests/fixtures/make_store_v1.py remakes both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool
from support import FIXTURES, make_sessions

from chatkit.store import JobStatus, Store, metadata, migrations

V1_SQLITE = FIXTURES / "store_v1.sqlite"
V1_POSTGRES_DDL = FIXTURES / "store_v1_postgres.sql"
V1_TABLES = (
    "datasets",
    "dataset_sessions",
    "dataset_frames",
    "analyses",
    "audit_log",
    "jobs",
    "job_sessions",
)


def revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        return migrations.current(conn)


def assert_v1_rows_read_back(store: Store) -> None:
    """Everything make_store_v1.py wrote, through the new Store's methods."""
    (info,) = store.list_datasets()
    assert (info.name, info.source_files, info.session_count) == ("v1 data set", ["v1.jsonl"], 3)
    assert isinstance(info.created_at, datetime) and info.created_at.tzinfo is not None
    record = store.load_dataset(info.id)
    assert record is not None
    assert [s.id for s in record.sessions] == ["cksess_v1_0", "cksess_v1_1", "cksess_v1_2"]
    assert [s.status for s in record.sessions] == ["expired", "cancelled", "expired"]
    assert store.load_session(info.id, "cksess_v1_1") == record.sessions[1]
    assert store.load_frame(info.id, "1-v1frame") == b"v1 frame bytes"

    assert store.get_analysis("v1-key-0") == {"session_id": "cksess_v1_0", "v": 1}
    assert store.get_analysis("v1-key-1") == {"session_id": "cksess_v1_1"}
    assert store.cache_stats() == {"entries": 2, "tokens": 42}

    log = store.audit_log()
    assert [(row["actor"], row["action"], row["outcome"]) for row in log] == [
        ("bob", "batch", "failed"),
        ("alice", "analyze", "ok"),
        ("alice", "import", "ok"),
    ]
    assert log[1]["tokens"] == 42 and log[2]["session_count"] == 3

    (listed,) = store.list_jobs()
    job = store.get_job(listed.id)
    assert job is not None and job.status is JobStatus.done and job.finished
    assert (job.dataset_id, job.done, job.total, job.worker_id) == (info.id, 3, 3, "v1-worker")
    assert job.summary == {"sessions": 3}
    assert [r["session_id"] for r in job.results] == [s.id for s in record.sessions]
    assert store.claim_job("new-worker") is None  # a finished job stays finished


def assert_still_writable(store: Store) -> None:
    dataset_id = store.save_dataset("after the upgrade", make_sessions(2))
    job_id = store.create_job(dataset_id, [], [], provider="offline", model="offline")
    assert store.claim_job("w").id == job_id
    store.audit("carol", "import", session_ids=["x"])
    assert len(store.list_datasets()) == 2 and len(store.audit_log()) == 4


# ---- a database made before migrations -----------------------------------------------------------


def test_the_v1_fixture_has_no_version_table_and_holds_every_kind_of_row() -> None:
    """The fixture really is a pre-migration database, so the upgrade tests below test an upgrade."""
    engine = sa.create_engine(f"sqlite:///{V1_SQLITE}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) == set(V1_TABLES)
            counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in V1_TABLES}
    finally:
        engine.dispose()
    assert counts == {
        "datasets": 1,
        "dataset_sessions": 3,
        "dataset_frames": 1,
        "analyses": 2,
        "audit_log": 3,
        "jobs": 1,
        "job_sessions": 3,
    }


def test_a_v1_sqlite_database_is_upgraded_in_place_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "chatkit.db"
    shutil.copy(V1_SQLITE, path)
    store = Store(f"sqlite:///{path}")
    try:
        assert revision(store) == migrations.head()
        assert_v1_rows_read_back(store)
        assert_still_writable(store)
    finally:
        store.close()
    reopened = Store(f"sqlite:///{path}")  # a second open finds it at head and changes nothing
    try:
        assert revision(reopened) == migrations.head() and len(reopened.list_datasets()) == 2
    finally:
        reopened.close()


@pytest.mark.postgres
def test_a_v1_postgres_database_is_upgraded_in_place_keeping_its_rows(postgres_store_url: str) -> None:
    """The v1 DDL in a fresh schema, filled with the SQLite fixture's rows, then opened."""
    source = sa.create_engine(f"sqlite:///{V1_SQLITE}", poolclass=NullPool)
    target = sa.create_engine(postgres_store_url, poolclass=NullPool)
    try:
        with target.begin() as conn:
            for statement in V1_POSTGRES_DDL.read_text().split(";\n"):
                body = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
                if body.strip():
                    conn.exec_driver_sql(body)
            assert not sa.inspect(conn).has_table("alembic_version")
            for name in V1_TABLES:
                # Column types from the v1 store's own tables, so JSON and dates load as they were.
                table = metadata.tables[name]
                with source.connect() as src:
                    # Only the v1 columns: later revisions' columns (0002's pinned) are not in it yet.
                    v1_columns = {c["name"] for c in sa.inspect(src).get_columns(name)}
                    query = sa.select(*[c for c in table.c if c.name in v1_columns])
                    rows = [dict(r) for r in src.execute(query).mappings()]
                conn.execute(table.insert(), rows)
            # The v1 code let PostgreSQL number audit rows: carry the sequence past the copied ids.
            conn.exec_driver_sql("SELECT setval('audit_log_id_seq', (SELECT max(id) FROM audit_log))")
    finally:
        source.dispose()
        target.dispose()

    store = Store(postgres_store_url)
    try:
        assert revision(store) == migrations.head()
        assert_v1_rows_read_back(store)
        assert_still_writable(store)
    finally:
        store.close()


# ---- fresh databases -----------------------------------------------------------------------------


def test_a_fresh_database_migrated_to_head_matches_schema_py(store: Store) -> None:
    """The migrations make exactly the tables, columns, types and indexes that the queries use."""
    assert revision(store) == migrations.head()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


@pytest.mark.postgres
def test_on_postgres_the_version_table_lives_in_the_store_schema(postgres_store_url: str) -> None:
    """The schema the URL's search_path names holds alembic_version, not `public` beside it."""
    store = Store(postgres_store_url)
    try:
        with store.engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
            where = conn.exec_driver_sql(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'"
                " AND table_schema IN (current_schema(), 'public')"
            ).scalars()
            assert list(where) == [schema] and schema.startswith("chatkit_test_")
    finally:
        store.close()


def test_a_database_of_a_newer_chatkit_is_refused_with_a_clear_message(store: Store, store_url: str) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(RuntimeError, match=r"'9999_from_the_future'.*newer chatkit"):
        Store(store_url)


OPEN_PROCESS = """
import sys, time
from pathlib import Path
from chatkit.store import Store

print("ready", flush=True)
while not Path({go!r}).exists():
    time.sleep(0.005)
store = Store({url!r})
store.audit({name!r}, "opened")
store.close()
"""


def test_two_processes_opening_one_fresh_database_at_once_both_work(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_PROCESS.format(go=str(go), url=store_url, name=name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()  # both migrate the empty database at the same moment
        for proc in procs:
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        for proc in procs:
            proc.kill()
    store = Store(store_url)
    try:
        assert sorted(row["actor"] for row in store.audit_log()) == ["p1", "p2"]
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [migrations.head()]
    finally:
        store.close()


# ---- 0002: audit rows name their data set, data sets can be pinned ------------------------------


def test_0002_adds_the_audit_data_set_and_pinned_keeping_v1_rows_unpinned(tmp_path: Path) -> None:
    path = tmp_path / "chatkit.db"
    shutil.copy(V1_SQLITE, path)
    store = Store(f"sqlite:///{path}")
    try:
        (info,) = store.list_datasets()
        assert info.pinned is False  # every v1 data set starts unpinned: retention may purge it
        assert {row["dataset_id"] for row in store.audit_log()} == {None}
        store.audit("carol", "delete", dataset_id=info.id)
        assert store.set_pinned(info.id, True)
        assert store.list_datasets()[0].pinned is True
        assert [r["actor"] for r in store.audit_log(dataset_id=info.id)] == ["carol"]
    finally:
        store.close()


# The columns each revision adds: a downgrade below it drops them, the next open adds them back.
ADDED_SINCE = {
    "0001_v1": {"datasets": "pinned", "audit_log": "dataset_id", "jobs": "requested_by"},
    "0002_access": {"jobs": "requested_by"},
}


@pytest.mark.parametrize("target", list(ADDED_SINCE))
def test_a_downgrade_drops_the_later_columns_and_the_next_open_upgrades_again(
    target: str, tmp_path: Path
) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'chatkit.db'}"
    Store(url).close()
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            command.downgrade(migrations.config(conn), target)
            for table, column in ADDED_SINCE[target].items():
                assert column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}
    finally:
        engine.dispose()
    store = Store(url)  # opening upgrades to head again
    try:
        assert revision(store) == migrations.head()
        job_id = store.create_job(None, [], make_sessions(1), provider="p", model="m", requested_by="bob")
        assert store.get_job(job_id).requested_by == "bob"
    finally:
        store.close()


# ---- 0003: jobs remember who queued them ---------------------------------------------------------


def test_a_database_at_0002_upgrades_in_place_and_its_old_jobs_are_the_workers(store_url: str) -> None:
    from alembic import command
    from support import StandInAnalyzer

    from chatkit.store.engine import now
    from chatkit.store.schema import job_sessions_table, jobs
    from chatkit.worker import run_job

    (session,) = make_sessions(1)
    if store_url.startswith("sqlite:///"):  # the Store makes its directory; this engine does not
        Path(store_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(store_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            command.upgrade(migrations.config(conn), "0002_access")
            assert "requested_by" not in {c["name"] for c in sa.inspect(conn).get_columns("jobs")}
            at = now()
            # A job queued by the 0002 code: every column it knew, none of 0003's.
            conn.execute(
                jobs.insert(),
                {"id": "old-job", "dataset_id": None, "status": "queued", "provider": "standin"}
                | {"model": "standin-1", "total": 1, "done": 0, "created_at": at, "updated_at": at},
            )
            conn.execute(
                job_sessions_table.insert(),
                {"job_id": "old-job", "position": 0, "session_id": session.id}
                | {"session": session.canonical_json(), "done": False},
            )
    finally:
        engine.dispose()
    store = Store(store_url)  # opening upgrades 0002 → head in place
    try:
        assert revision(store) == migrations.head() == "0003_job_requester"
        old = store.get_job("old-job", with_results=False)
        assert old is not None and old.requested_by is None and old.total == 1
        assert store.claim_job("w-old").id == "old-job"
        run_job(store, StandInAnalyzer(), "old-job", "w-old")
        assert store.get_job("old-job").status == "done"
        assert {r["actor"] for r in store.audit_log()} == {"worker:w-old"}  # no requester: the worker
        new = store.create_job(None, [], [session], provider="p", model="m", requested_by="alice@example.com")
        assert store.get_job(new).requested_by == "alice@example.com"
    finally:
        store.close()
