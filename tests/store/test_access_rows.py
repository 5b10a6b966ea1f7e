"""The store's side of access: audit rows that name the person and the data set, filters, pins and purges."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from support import make_sessions

from chatkit.store import Store, acting_as, analyses


def test_rows_written_while_acting_for_a_person_name_that_person_also_from_async_code(store: Store) -> None:
    store.audit("dashboard", "import")

    async def analyzer_writes() -> None:  # the analyzer audits inside its own event loop
        await asyncio.sleep(0)
        store.audit("dashboard", "analyze")

    with acting_as("alice@example.com"):
        store.audit("dashboard", "export")
        asyncio.run(analyzer_writes())
    other: list[str] = []
    thread = threading.Thread(target=lambda: (store.audit("dashboard", "view"), other.append("ok")))
    with acting_as("bob@example.com"):
        thread.start()  # a new thread does not inherit the context: its rows name the writer
        thread.join()
    actors = [(r["action"], r["actor"]) for r in reversed(store.audit_log())]
    assert actors == [
        ("import", "dashboard"),
        ("export", "alice@example.com"),
        ("analyze", "alice@example.com"),
        ("view", "dashboard"),
    ]


def test_the_audit_log_filters_by_person_action_data_set_and_time(store: Store) -> None:
    store.audit("alice@example.com", "import", dataset_id="ds1")
    store.audit("bob@example.com", "delete", dataset_id="ds1")
    store.audit("bob@example.com", "analyze", dataset_id="ds2")
    middle = datetime.now(UTC)
    store.audit("alice@example.com", "export", dataset_id="ds2")
    assert [r["action"] for r in store.audit_log(actor="bob@example.com")] == ["analyze", "delete"]
    assert [r["actor"] for r in store.audit_log(dataset_id="ds1")] == ["bob@example.com", "alice@example.com"]
    assert [r["action"] for r in store.audit_log(actions=["import", "export"])] == ["export", "import"]
    assert [r["action"] for r in store.audit_log(since=middle)] == ["export"]
    assert [r["action"] for r in store.audit_log(until=middle)] == ["analyze", "delete", "import"]
    assert store.audit_actors() == ["alice@example.com", "bob@example.com"]
    assert store.audit_actions() == ["analyze", "delete", "export", "import"]


def test_purging_deletes_unpinned_old_data_sets_with_their_jobs_and_orphaned_analyses(store: Store) -> None:
    old = store.save_dataset("old", make_sessions(3, prefix="old_"))
    pinned = store.save_dataset("pinned", make_sessions(2, prefix="pin_"))
    job = store.create_job(old, [], [], provider="offline", model="offline")
    store.put_analysis("k-old", "old_0000", "p", "m", {"r": 1}, {"total_tokens": 1})
    store.put_analysis("k-pin", "pin_0000", "p", "m", {"r": 1}, {"total_tokens": 1})
    assert store.set_pinned(pinned, True) and not store.set_pinned("no-such-id", True)
    later = datetime.now(UTC) + timedelta(seconds=1)
    fresh = store.save_dataset("fresh", make_sessions(2, prefix="new_"))
    with store.engine.begin() as conn:  # the fresh one was imported after the cutoff
        conn.execute(
            sa.text("UPDATE datasets SET created_at = :at WHERE id = :id"),
            {"at": later + timedelta(days=1), "id": fresh},
        )

    gone = store.purge_datasets_before(later)

    assert [d.id for d in gone] == [old]
    assert {d.id for d in store.list_datasets()} == {pinned, fresh}
    assert store.load_sessions(old) == [] and store.get_job(job) is None
    assert store.job_sessions(job) == []
    with store.engine.connect() as conn:
        keys = set(conn.execute(sa.select(analyses.c.key)).scalars())
    assert keys == {"k-pin"}  # the pinned data set still holds its session, so its analysis stays
    assert store.purge_datasets_before(later) == []  # nothing left to purge
