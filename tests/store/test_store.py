"""The store on SQLite always, and on PostgreSQL whenever one is reachable (fixtures in tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import make_sessions

from chatkit.settings import Settings
from chatkit.store import AUDIT_MAX_IDS, JobStatus, Store

# ---- data sets -----------------------------------------------------------------------------------


def test_dataset_round_trip_survives_reopen(open_store: Callable[..., Store]) -> None:
    sessions = make_sessions(25)
    dataset_id = open_store().save_dataset("incident 42", sessions, ["a.json", "b.csv"])

    reopened = open_store()  # a new engine on the same URL: what a restart sees
    record = reopened.load_dataset(dataset_id)
    assert record is not None
    assert record.id == dataset_id
    assert record.name == "incident 42"
    assert record.source_files == ["a.json", "b.csv"]
    assert record.session_count == 25
    assert record.sessions == sessions  # order, extras and timestamps kept
    assert record.sessions[0].model_extra == {"custom_field": {"kept": True}}
    assert record.created_at.tzinfo is not None
    assert [d.id for d in reopened.list_datasets()] == [dataset_id]


def test_no_secret_reaches_the_database(store: Store) -> None:
    store.save_dataset("s", make_sessions(3))
    with store.engine.connect() as conn:
        stored = " ".join(conn.execute(sa.text("SELECT data FROM dataset_sessions")).scalars())
    assert "supersecretvalue" not in stored and "client_secret" not in stored


def test_saving_the_same_sessions_again_is_idempotent(store: Store) -> None:
    sessions = make_sessions(10)
    first = store.save_dataset("first name", sessions)
    again = store.save_dataset("second name", list(reversed(sessions)), ["other.json"])
    assert again == first
    (info,) = store.list_datasets()
    assert info.name == "first name" and info.session_count == 10
    other = store.save_dataset("other", sessions[:9])
    assert other != first
    assert {d.id for d in store.list_datasets()} == {first, other}


def test_list_and_delete_datasets(store: Store) -> None:
    older = store.save_dataset("older", make_sessions(2, "a_"))
    time.sleep(0.01)
    newer = store.save_dataset("newer", make_sessions(3, "b_"))
    assert [d.id for d in store.list_datasets()] == [newer, older]
    store.delete_dataset(older)
    store.delete_dataset("no-such-id")  # deleting what is gone is not an error
    assert store.load_dataset(older) is None
    assert [d.id for d in store.list_datasets()] == [newer]
    record = store.load_dataset(newer)
    assert record is not None and len(record.sessions) == 3
    # Deleted data can be saved again under its content id.
    assert store.save_dataset("back", make_sessions(2, "a_")) == older


def test_concurrent_saves_of_one_dataset_store_it_once(open_store: Callable[..., Store]) -> None:
    sessions = make_sessions(50)
    stores = [open_store() for _ in range(6)]
    ids: list[str] = []
    errors: list[BaseException] = []

    def save(store: Store) -> None:
        try:
            ids.append(store.save_dataset("same", sessions))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(ids)) == 1
    record = stores[0].load_dataset(ids[0])
    assert record is not None and len(record.sessions) == 50


def test_dataset_info_and_single_sessions_without_a_full_load(store: Store) -> None:
    sessions = make_sessions(30)
    dataset_id = store.save_dataset("lookup", sessions, ["x.jsonl"])
    info = store.dataset_info(dataset_id)
    assert info is not None and not hasattr(info, "sessions")
    assert (info.id, info.name, info.source_files, info.session_count) == (
        dataset_id,
        "lookup",
        ["x.jsonl"],
        30,
    )
    assert store.dataset_info("no-such-id") is None

    assert store.load_session(dataset_id, "cksess_0017") == sessions[17]
    assert store.load_session(dataset_id, "cksess_9999") is None
    assert store.load_session("no-such-id", "cksess_0017") is None

    assert store.load_sessions(dataset_id) == sessions
    # Data set order, whatever order (and repeats) the ids come in; unknown ids left out.
    picked = store.load_sessions(dataset_id, ["cksess_0020", "cksess_0003", "nope", "cksess_0003"])
    assert picked == [sessions[3], sessions[20]]
    assert store.load_sessions(dataset_id, []) == []
    assert store.load_sessions("no-such-id") == []


def test_session_lookup_uses_an_index_also_on_an_older_database(open_store: Callable[..., Store]) -> None:
    store = open_store()
    with store.engine.begin() as conn:  # a database made before the index (and migrations) existed
        conn.exec_driver_sql("DROP INDEX ix_dataset_sessions_lookup")
        conn.exec_driver_sql("DROP TABLE alembic_version")
    reopened = open_store()
    indexes = sa.inspect(reopened.engine).get_indexes("dataset_sessions")
    assert [(i["name"], i["column_names"]) for i in indexes] == [
        ("ix_dataset_sessions_lookup", ["dataset_id", "session_id", "position"])
    ]


def test_one_session_is_read_off_the_index_not_by_walking_the_data_set(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        dataset_id = store.save_dataset("plan", make_sessions(50))
        statements: list[tuple[str, Any]] = []
        sa.event.listen(
            store.engine, "before_cursor_execute", lambda *args: statements.append((args[2], args[3]))
        )
        assert store.load_session(dataset_id, "cksess_0042") is not None
        sql, params = next((q, p) for q, p in statements if "dataset_sessions" in q)
        with store.engine.connect() as conn:
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "ix_dataset_sessions_lookup (dataset_id=? AND session_id=?)" in plan
        assert "TEMP B-TREE" not in plan  # no sort either
    finally:
        store.close()


def test_frames_are_kept_per_data_set_and_version(open_store: Callable[..., Store]) -> None:
    store = open_store()
    dataset_id = store.save_dataset("framed", make_sessions(3))
    payload = bytes(range(256)) * 4000  # every byte value, ~1 MB
    assert store.load_frame(dataset_id, "v1") is None
    store.save_frame(dataset_id, "v1", payload)
    store.save_frame(dataset_id, "v2", b"second version")
    store.save_frame(dataset_id, "v2", b"replaced")  # upsert: one row per data set and version
    reopened = open_store()
    assert reopened.load_frame(dataset_id, "v1") == payload
    assert reopened.load_frame(dataset_id, "v2") == b"replaced"
    assert reopened.load_frame(dataset_id, "v3") is None
    assert reopened.load_frame("other", "v1") is None
    with reopened.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dataset_frames")).scalar() == 2


def test_deleting_a_data_set_deletes_its_frames(store: Store) -> None:
    kept = store.save_dataset("kept", make_sessions(2, "k_"))
    gone = store.save_dataset("gone", make_sessions(2, "g_"))
    for dataset_id in (kept, gone):
        store.save_frame(dataset_id, "v1", b"frame of " + dataset_id.encode())
        store.save_frame(dataset_id, "v0", b"older")
    store.delete_dataset(gone)
    assert store.load_frame(gone, "v1") is None and store.load_frame(gone, "v0") is None
    assert store.load_frame(kept, "v1") == b"frame of " + kept.encode()
    assert store.load_session(gone, "g_0000") is None


# ---- analyses cache ------------------------------------------------------------------------------


def test_analysis_cache_put_get_and_stats(open_store: Callable[..., Store]) -> None:
    store = open_store()
    assert store.get_analysis("k1") is None
    assert store.cache_stats() == {"entries": 0, "tokens": 0}
    report = {"session_id": "s1", "body": {"impact": "x"}, "usage": {"total_tokens": 120}}
    store.put_analysis("k1", "s1", "openai", "m", report, {"prompt_tokens": 100, "total_tokens": 120})
    store.put_analysis("k2", "s2", "offline", "offline", {"session_id": "s2"}, {})
    assert open_store().get_analysis("k1") == report  # after a restart too
    assert store.cache_stats() == {"entries": 2, "tokens": 120}
    # "Analyze again" replaces the cached report under the same key.
    store.put_analysis("k1", "s1", "openai", "m", {**report, "body": {"impact": "y"}}, {"total_tokens": 80})
    assert store.get_analysis("k1")["body"] == {"impact": "y"}
    assert store.cache_stats() == {"entries": 2, "tokens": 80}


def test_ten_threads_putting_one_key_race_safely(open_store: Callable[..., Store]) -> None:
    stores = [open_store() for _ in range(10)]
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def put(i: int) -> None:
        try:
            barrier.wait()
            stores[i].put_analysis("same", "s", "p", "m", {"writer": i}, {"total_tokens": 1})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert stores[0].cache_stats() == {"entries": 1, "tokens": 1}
    assert stores[0].get_analysis("same")["writer"] in range(10)


def test_secret_like_keys_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="api_key"):
        store.put_analysis("k", "s", "p", "m", {"body": [{"api_key": "sk-123"}]}, {})
    assert store.get_analysis("k") is None
    job_id = store.create_job(None, [], make_sessions(1), provider="p", model="m")
    with pytest.raises(ValueError, match="client_secret"):
        store.record_job_result(job_id, "cksess_0000", {"client_secret": "ek_1"}, None)
    with pytest.raises(ValueError, match="Authorization"):
        store.set_job_status(job_id, "done", summary={"headers": {"Authorization": "Bearer x"}})
    # Token counters are not secrets.
    store.put_analysis("ok", "s", "p", "m", {"usage": {"prompt_tokens": 1, "total_tokens": 2}}, {})


# ---- audit ---------------------------------------------------------------------------------------


def test_audit_log_newest_first_and_redacted(store: Store) -> None:
    store.audit("alice", "analyze", session_ids=["s1"], provider="openai", model="m", tokens=42)
    store.audit(
        "bob",
        "batch",
        session_ids=[f"s{i}" for i in range(AUDIT_MAX_IDS + 5)],
        outcome="failed",
        detail="401 with Bearer sk-abcdefghijklmnopqrstuvwxyz",
    )
    newest, oldest = store.audit_log()
    assert (newest["actor"], newest["action"], newest["outcome"]) == ("bob", "batch", "failed")
    assert newest["session_count"] == AUDIT_MAX_IDS + 5 and len(newest["session_ids"]) == AUDIT_MAX_IDS
    assert "sk-abc" not in newest["detail"] and "[redacted]" in newest["detail"]
    assert oldest["session_ids"] == ["s1"] and oldest["tokens"] == 42 and oldest["provider"] == "openai"
    assert oldest["at"] <= newest["at"]
    assert len(store.audit_log(limit=1)) == 1


def test_concurrent_writers_lose_nothing(store: Store, open_store: Callable[..., Store]) -> None:
    """8 threads x 50 writes: half share one Store, half open their own engine."""
    threads_n, writes = 8, 50
    errors: list[BaseException] = []
    stores = [store if i % 2 else open_store() for i in range(threads_n)]
    barrier = threading.Barrier(threads_n)

    def write(t: int) -> None:
        try:
            barrier.wait()
            for w in range(writes):
                if w % 2:
                    stores[t].audit(f"thread{t}", "write", session_ids=[f"s{t}-{w}"], tokens=1)
                else:
                    stores[t].put_analysis(f"k{t}-{w}", f"s{t}-{w}", "p", "m", {"n": w}, {"total_tokens": 1})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    total = threads_n * writes
    assert store.cache_stats() == {"entries": total // 2, "tokens": total // 2}
    log = store.audit_log(limit=total)
    assert len(log) == total // 2
    assert {row["session_ids"][0] for row in log} == {
        f"s{t}-{w}" for t in range(threads_n) for w in range(1, writes, 2)
    }


# ---- jobs ----------------------------------------------------------------------------------------


def test_job_lifecycle_in_the_store(store: Store) -> None:
    sessions = make_sessions(4)
    dataset_id = store.save_dataset("d", sessions)
    job_id = store.create_job(dataset_id, [], [], provider="offline", model="offline")
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.done, job.total, job.dataset_id, job.results) == ("queued", 0, 4, dataset_id, [])
    assert store.job_sessions(job_id) == sessions

    claimed = store.claim_job("w1")
    assert claimed is not None and claimed.id == job_id and claimed.status == "running"
    assert claimed.worker_id == "w1"
    assert store.claim_job("w2") is None  # running with a fresh heartbeat: not claimable
    assert store.heartbeat(job_id, "w1") and not store.heartbeat(job_id, "w2")

    store.record_job_result(job_id, "cksess_0001", {"session_id": "cksess_0001"}, None)
    store.record_job_result(job_id, "cksess_0001", {"session_id": "cksess_0001"}, None)  # counted once
    store.record_job_result(job_id, "cksess_0000", None, "timed out")
    job = store.get_job(job_id)
    assert job is not None and job.done == 2
    # Results come in job order, whatever order they arrived in.
    assert job.results == [
        {"session_id": "cksess_0000", "report": None, "error": "timed out"},
        {"session_id": "cksess_0001", "report": {"session_id": "cksess_0001"}, "error": None},
    ]
    assert [s.id for s in store.job_sessions(job_id, pending_only=True)] == ["cksess_0002", "cksess_0003"]

    assert not store.stop_requested(job_id)
    store.request_stop(job_id)
    assert store.get_job(job_id).status == "stopping" and store.stop_requested(job_id)
    store.set_job_status(job_id, "stopped")
    job = store.get_job(job_id)
    assert job.status == "stopped" and job.done == 2 and len(job.results) == 2  # stop keeps what is done
    with pytest.raises(ValueError, match="unknown job status"):
        store.set_job_status(job_id, "paused")


def test_job_statuses_are_an_enum_equal_to_their_text(store: Store) -> None:
    job_id = store.create_job(None, [], make_sessions(1), provider="p", model="m")
    job = store.get_job(job_id)
    assert job.status is JobStatus.queued and job.status == "queued" and not job.finished
    store.set_job_status(job_id, JobStatus.failed, error="boom")
    (listed,) = store.list_jobs()
    assert listed.status is JobStatus.failed and listed.finished and f"{listed.status}" == "failed"
    assert [s for s in JobStatus if s.finished] == ["stopped", "done", "failed"]
    with pytest.raises(ValueError, match="expected one of queued, running, stopping, stopped, done, failed"):
        store.set_job_status(job_id, "cancelled")
    assert store.get_job(job_id).status is JobStatus.failed  # a refused status changes nothing


def test_job_from_selected_ids_and_stopping_a_queued_job(store: Store) -> None:
    sessions = make_sessions(5)
    job_id = store.create_job(
        None, ["cksess_0003", "cksess_0001"], sessions + sessions, provider="p", model="m"
    )
    assert [s.id for s in store.job_sessions(job_id)] == ["cksess_0001", "cksess_0003"]
    store.request_stop(job_id)
    assert store.get_job(job_id).status == "stopped"
    assert store.claim_job("w") is None
    with pytest.raises(ValueError, match="at least one session"):
        store.create_job(None, ["nope"], sessions, provider="p", model="m")
    with pytest.raises(ValueError, match="does not exist"):
        store.create_job("missing", [], [], provider="p", model="m")


def test_jobs_are_claimed_oldest_first_and_listed_newest_first(store: Store) -> None:
    first = store.create_job(None, [], make_sessions(1, "a"), provider="p", model="m")
    time.sleep(0.01)
    second = store.create_job(None, [], make_sessions(1, "b"), provider="p", model="m")
    assert [j.id for j in store.list_jobs()] == [second, first]
    assert store.claim_job("w").id == first
    assert store.claim_job("w").id == second
    assert store.claim_job("w") is None


def test_a_job_whose_worker_died_is_claimed_again(open_store: Callable[..., Store]) -> None:
    store = open_store(stale_after_s=0.3)
    job_id = store.create_job(None, [], make_sessions(3), provider="p", model="m")
    assert store.claim_job("dead").id == job_id
    store.record_job_result(job_id, "cksess_0000", {"session_id": "cksess_0000"}, None)
    assert open_store().claim_job("alive") is None  # by the default threshold the worker is alive
    time.sleep(0.4)  # no heartbeat for longer than stale_after_s
    resumed = open_store(stale_after_s=0.3).claim_job("alive")
    assert resumed is not None and resumed.id == job_id and resumed.worker_id == "alive"
    assert resumed.done == 1
    assert not store.heartbeat(job_id, "dead")  # the old worker learns it lost the job
    # A stop that a dead worker can never acknowledge ends as stopped.
    store.request_stop(job_id)
    time.sleep(0.4)
    assert store.claim_job("alive") is None
    assert store.get_job(job_id).status == "stopped"


def test_release_hands_a_job_back(store: Store) -> None:
    job_id = store.create_job(None, [], make_sessions(2), provider="p", model="m")
    store.claim_job("w1")
    store.release_job(job_id, "someone-else")  # only the owner can release
    assert store.get_job(job_id).status == "running"
    store.release_job(job_id, "w1")
    assert store.get_job(job_id).status == "queued"
    assert store.claim_job("w2").worker_id == "w2"


def test_concurrent_claims_never_share_a_job(open_store: Callable[..., Store]) -> None:
    """8 claimers, each with its own engine, race over 30 queued jobs: each job goes to exactly one."""
    setup = open_store()
    job_ids = {
        setup.create_job(None, [], make_sessions(1, f"j{i}_"), provider="p", model="m") for i in range(30)
    }
    stores = [open_store() for _ in range(8)]
    claims: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def claim_all(i: int) -> None:
        try:
            barrier.wait()
            while (job := stores[i].claim_job(f"w{i}")) is not None:
                claims.append((job.id, f"w{i}"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(job for job, _ in claims) == sorted(job_ids)
    assert {setup.get_job(job).worker_id for job, _ in claims} == {w for _, w in claims}


# ---- construction --------------------------------------------------------------------------------


def test_from_settings_creates_the_data_dir_with_a_wal_sqlite_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    store = Store.from_settings(Settings(chatkit_data_dir=data_dir, chatkit_database_url=None))
    try:
        assert (data_dir / "chatkit.db").exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert store.save_dataset("x", make_sessions(1))
    finally:
        store.close()


def test_from_settings_uses_the_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    store = Store.from_settings(Settings(chatkit_data_dir=tmp_path / "unused", chatkit_database_url=url))
    store.close()
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "unused").exists()


def test_display_url_hides_the_password() -> None:
    store = Store.__new__(Store)
    store.url = "postgresql+psycopg://app:hunter2@db:5432/chatkit"
    assert "hunter2" not in store.display_url and "hunter2" not in repr(store)


def test_in_memory_sqlite_is_usable_from_threads() -> None:
    store = Store("sqlite://")
    errors: list[BaseException] = []

    def write(t: int) -> None:
        try:
            for w in range(20):
                store.audit(f"t{t}", "write", detail=str(w))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(store.audit_log(limit=100)) == 80


def test_backends_without_on_conflict_fall_back_to_savepoints(tmp_path: Path) -> None:
    """Any SQLAlchemy URL works: the generic path is exercised here by hiding SQLite's ON CONFLICT."""
    store = Store(f"sqlite:///{tmp_path / 'generic.db'}")
    store.dialect = "generic"
    try:
        sessions = make_sessions(3)
        assert store.save_dataset("a", sessions) == store.save_dataset("b", sessions)
        assert len(store.list_datasets()) == 1
        store.put_analysis("k", "s", "p", "m", {"v": 1}, {"total_tokens": 3})
        store.put_analysis("k", "s", "p", "m", {"v": 2}, {"total_tokens": 4})
        assert store.get_analysis("k") == {"v": 2}
        assert store.cache_stats() == {"entries": 1, "tokens": 4}
        dataset_id = store.save_dataset("c", sessions)
        store.save_frame(dataset_id, "v", b"one")
        store.save_frame(dataset_id, "v", b"two")
        assert store.load_frame(dataset_id, "v") == b"two"
    finally:
        store.close()
