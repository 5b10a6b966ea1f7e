"""Data sets stored with their facts frame: what comes back is exactly what sessions_frame builds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from chatkit.analytics.frame import FRAME_COLUMNS, empty_frame, sessions_frame
from chatkit.domain import rules as diagnostics
from chatkit.domain.models import ChatKitSession
from chatkit.domain.sample import sample_sessions
from chatkit.store import Store, datasets
from chatkit.store.datasets import FRAME_VERSION, facts_frame, frame_from_bytes, frame_to_bytes, save_dataset


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chatkit.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def sessions() -> list[ChatKitSession]:
    return sample_sessions(400, seed=3)


def sparse_sessions() -> list[ChatKitSession]:
    """Every nullable column empty somewhere, a category left unused, flags set and not."""
    return [
        ChatKitSession.model_validate({"id": "bare"}),
        ChatKitSession.model_validate(
            {
                "id": "over",
                "status": "cancelled",
                "workflow": {"id": "wf", "version": "3"},
                "scope": {"customer_id": "c1"},
                "max_requests_per_1_minute": 10,
                "current_requests": 30,
                "ttl_seconds": 600,
                "created_at": "2025-03-14T10:00:00Z",
                "cancelled_at": "2025-03-14T10:01:00Z",
                "reason": "closed by admin",  # contradicted by the numbers: a flag
            }
        ),
        ChatKitSession.model_validate({"id": "zero", "status": "active", "max_requests_per_1_minute": 0}),
    ]


def test_the_stored_frame_equals_the_built_one_dtypes_and_all(
    store: Store, store_url: str, sessions: list[ChatKitSession]
) -> None:
    dataset_id = save_dataset(store, "sample", sessions, ["sample.jsonl"])
    reopened = Store(store_url)  # what a restarted dashboard sees
    try:
        frame = facts_frame(reopened, dataset_id)
    finally:
        reopened.close()
    assert frame is not None
    pd.testing.assert_frame_equal(frame, sessions_frame(sessions), check_exact=True)
    assert frame["severity"].dtype.ordered
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize("make", [sparse_sessions, list], ids=["sparse", "empty"])
def test_missing_values_unused_categories_and_empty_frames_round_trip(
    make: Callable[[], list[ChatKitSession]],
) -> None:
    frame = sessions_frame(make())
    assert list(frame.columns) == FRAME_COLUMNS
    pd.testing.assert_frame_equal(frame_from_bytes(frame_to_bytes(frame)), frame, check_exact=True)


def test_save_dataset_stores_the_sessions_and_the_frame(store: Store) -> None:
    sessions = sparse_sessions()
    dataset_id = save_dataset(store, "sparse", sessions)
    record = store.load_dataset(dataset_id)
    assert record is not None and record.sessions == sessions and record.name == "sparse"
    stored = store.load_frame(dataset_id, FRAME_VERSION)
    assert stored is not None
    pd.testing.assert_frame_equal(frame_from_bytes(stored), sessions_frame(sessions), check_exact=True)


def test_a_missing_frame_is_built_from_the_sessions_and_stored(
    store: Store, sessions: list[ChatKitSession]
) -> None:
    dataset_id = store.save_dataset("no frame yet", sessions)  # the plain store: sessions only
    assert store.load_frame(dataset_id, FRAME_VERSION) is None
    frame = facts_frame(store, dataset_id)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, sessions_frame(sessions), check_exact=True)
    stored = store.load_frame(dataset_id, FRAME_VERSION)
    assert stored is not None
    pd.testing.assert_frame_equal(frame_from_bytes(stored), frame, check_exact=True)


def test_a_frame_of_another_version_is_never_read(store: Store, sessions: list[ChatKitSession]) -> None:
    dataset_id = store.save_dataset("old frame", sessions)
    stale = sessions_frame(sessions[:5])  # what older code might have stored
    store.save_frame(dataset_id, "0-older-code", frame_to_bytes(stale))
    frame = facts_frame(store, dataset_id)
    assert frame is not None and len(frame) == len(sessions)
    assert store.load_frame(dataset_id, FRAME_VERSION) is not None
    assert store.load_frame(dataset_id, "0-older-code") == frame_to_bytes(stale)  # left for older code


def test_an_unreadable_frame_is_rebuilt(store: Store, sessions: list[ChatKitSession]) -> None:
    dataset_id = save_dataset(store, "s", sessions)
    store.save_frame(dataset_id, FRAME_VERSION, b"PAR1 truncated")
    frame = facts_frame(store, dataset_id)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, sessions_frame(sessions), check_exact=True)
    assert store.load_frame(dataset_id, FRAME_VERSION) != b"PAR1 truncated"


def test_a_missing_data_set_has_no_frame(store: Store) -> None:
    assert facts_frame(store, "no-such-id") is None
    assert store.load_frame("no-such-id", FRAME_VERSION) is None


def test_saving_again_in_another_order_keeps_the_first_order(
    store: Store, sessions: list[ChatKitSession]
) -> None:
    first = save_dataset(store, "first", sessions)
    again = save_dataset(store, "again", list(reversed(sessions)))
    assert again == first
    frame = facts_frame(store, first)
    assert frame is not None
    assert frame["session_id"].tolist() == [s.id for s in sessions]


def test_single_sessions_match_their_frame_rows(store: Store, sessions: list[ChatKitSession]) -> None:
    dataset_id = save_dataset(store, "s", sessions)
    frame = facts_frame(store, dataset_id)
    assert frame is not None
    for row in (0, 17, len(sessions) - 1):
        session_id = frame["session_id"].iloc[row]
        assert store.load_session(dataset_id, session_id) == sessions[row]
    assert store.load_session(dataset_id, "not-there") is None


def test_the_version_follows_the_rules_and_the_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    assert datasets._frame_version() == FRAME_VERSION
    monkeypatch.setattr(diagnostics, "RULES_MARKDOWN", diagnostics.RULES_MARKDOWN + "| 9 | new rule |\n")
    assert datasets._frame_version() != FRAME_VERSION
    monkeypatch.undo()
    wider = empty_frame().assign(extra=pd.Series([], dtype="Int64"))
    monkeypatch.setattr(datasets, "empty_frame", lambda: wider)
    assert datasets._frame_version() != FRAME_VERSION
