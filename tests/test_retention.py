"""Retention: old unpinned data sets are purged at the worker's start and then daily, audited."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from support import StandInAnalyzer, make_sessions

from chatkit.store import Store
from chatkit.worker import Retention, work_forever


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_data_sets_older_than_the_setting_are_purged_once_a_day_and_pinned_ones_kept(store: Store) -> None:
    clock = Clock()
    old = store.save_dataset("old", make_sessions(3, prefix="a_"))
    pinned = store.save_dataset("kept", make_sessions(2, prefix="b_"))
    store.set_pinned(pinned, True)
    retention = Retention(store, 30, clock=clock)

    assert retention.run_if_due() == []  # at start: nothing is 30 days old yet
    started = retention.last_run
    clock.now += timedelta(hours=12)
    assert retention.run_if_due() == [] and retention.last_run == started  # not due: not even looked at
    clock.now += timedelta(days=29)
    assert retention.run_if_due() == [] and retention.last_run == clock.now  # 29.5 days old: kept
    clock.now += timedelta(hours=23)
    assert retention.run_if_due() == []  # 30 days and 11 hours old, but the last run is 23 hours ago
    clock.now += timedelta(hours=1)
    assert [d.id for d in retention.run_if_due()] == [old]
    assert [d.id for d in store.list_datasets()] == [pinned]
    (row,) = store.audit_log(actions=["purge"])
    assert (row["actor"], row["dataset_id"], row["outcome"]) == ("retention", old, "deleted")
    assert "older than 30 days" in row["detail"]


def test_zero_days_keeps_everything(store: Store) -> None:
    clock = Clock()
    store.save_dataset("old", make_sessions(2))
    clock.now += timedelta(days=3650)
    assert Retention(store, 0, clock=clock).run() == [] and len(store.list_datasets()) == 1


def test_the_worker_purges_when_it_starts(store: Store) -> None:
    clock = Clock()
    store.save_dataset("old", make_sessions(2))
    clock.now += timedelta(days=31)
    stop = threading.Event()
    thread = threading.Thread(
        target=work_forever,
        args=(store, StandInAnalyzer(), "w1", 0.05, stop, Retention(store, 30, clock=clock)),
        daemon=True,
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while store.list_datasets() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.list_datasets() == []
    finally:
        stop.set()
        thread.join(10)
