"""The dashboard's data caches: deleting one data set forgets its entries and keeps everyone else's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import streamlit as st

from chatkit.analytics.frame import Filters
from chatkit.domain import sample
from chatkit.store import Store, datasets
from chatkit.web import caches

ALL = Filters().model_dump_json()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each data set's facts frame and each of its sessions is read from the store."""
    counts: Counter[str] = Counter()
    facts_frame, load_session = datasets.facts_frame, Store.load_session

    def counted_frame(store: Store, dataset_id: str) -> Any:
        counts[dataset_id] += 1
        return facts_frame(store, dataset_id)

    def counted_session(store: Store, dataset_id: str, session_id: str) -> Any:
        counts[f"{dataset_id}/session"] += 1
        return load_session(store, dataset_id, session_id)

    monkeypatch.setattr(datasets, "facts_frame", counted_frame)
    monkeypatch.setattr(Store, "load_session", counted_session)
    return counts


@pytest.fixture
def two_datasets(tmp_path: Path) -> Iterator[tuple[Store, str, str]]:
    st.cache_data.clear()
    st.cache_resource.clear()  # the facts frames are there (shared objects, not pickled copies)
    store = Store(f"sqlite:///{tmp_path / 'chatkit.db'}")
    a = datasets.save_dataset(store, "A", sample.sample_sessions(30))
    b = datasets.save_dataset(store, "B", sample.sample_sessions(20))
    yield store, a, b
    st.cache_data.clear()
    st.cache_resource.clear()
    store.close()


def test_forgetting_one_data_set_keeps_the_others_cached(
    two_datasets: tuple[Store, str, str], reads: Counter[str]
) -> None:
    store, a, b = two_datasets
    first_a, first_b = sample.sample_sessions(30)[0].id, sample.sample_sessions(20)[0].id
    caches.session_by_id(a, first_a, store)
    for dataset_id in (a, b):
        caches.kpis(dataset_id, ALL, store)
        caches.filter_options(dataset_id, store)
    b_kpis = caches.kpis(b, ALL, store)
    b_session = caches.session_by_id(b, first_b, store)
    assert reads == {a: 1, b: 1, f"{a}/session": 1, f"{b}/session": 1}

    store.delete_dataset(a)
    caches.forget_dataset(a, store)

    # B: every entry still served from the cache, nothing read again.
    assert caches.kpis(b, ALL, store) == b_kpis
    assert caches.session_by_id(b, first_b, store) == b_session
    caches.filter_options(b, store)
    caches.dataset_frame(b, store)
    assert reads[b] == 1 and reads[f"{b}/session"] == 1
    # A: none of its entries answers any more; asking reads the store, which no longer has it.
    with pytest.raises(caches.DatasetMissingError):
        caches.kpis(a, ALL, store)
    with pytest.raises(caches.DatasetMissingError):
        caches.filter_options(a, store)
    assert caches.session_by_id(a, first_a, store) is None
    assert reads[f"{a}/session"] == 2
    assert reads[a] == 3  # kpis and filter options each tried to read A's frame again


def test_a_data_set_saved_again_after_deletion_is_read_afresh(
    two_datasets: tuple[Store, str, str], reads: Counter[str]
) -> None:
    store, a, _ = two_datasets
    caches.kpis(a, ALL, store)
    store.delete_dataset(a)
    caches.forget_dataset(a, store)
    again = datasets.save_dataset(store, "A again", sample.sample_sessions(30))

    assert again == a  # the id is a content hash
    assert caches.kpis(a, ALL, store)["sessions"] == 30
    assert reads[a] == 2


def test_the_shared_frame_is_not_changed_by_the_pages_that_read_it(
    two_datasets: tuple[Store, str, str],
) -> None:
    """The frames are one object for every user (`cache_resource`): a page that changed it in place
    would change everyone's figures."""
    store, a, _ = two_datasets
    shared = caches.dataset_frame(a, store)
    before = shared.copy(deep=True)
    caches.kpis(a, ALL, store)
    caches.filter_options(a, store)
    for name in ("requests_vs_limit", "utilization_by_workflow", "ttl_vs_time_to_end", "top_cancellations"):
        caches.figure(name, a, ALL, store)
    caches.figure("cancellations_over_time", a, ALL, store, freq="h")
    caches.session_table(a, ALL, (), "h", store)
    workflow = caches.filter_options(a, store)["workflows"][0]
    caches.what_if(a, ALL, store, 5, 60, workflow)
    caches.thresholds(a, ALL, store, workflow)
    caches.quotes(a, ALL, store, workflow)
    caches.what_if_bounds(a, ALL, workflow, store)
    assert caches.dataset_frame(a, store) is shared and caches.filtered_frame(a, ALL, store) is not None
    pd.testing.assert_frame_equal(shared, before)
