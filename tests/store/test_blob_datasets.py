"""A data set saved from a file import is blobs only (facts, session table, raw records); every
session built from them on demand equals today's importer's, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from ingest.test_table_import import _lifecycle_files
from support import FIXTURES

from chatkit.analytics.frame import sessions_frame
from chatkit.ingest import import_files, importer
from chatkit.ingest.records import PackedRecords
from chatkit.store import Store, dataset_frames, dataset_sessions, datasets
from chatkit.store.dataset_tables import TABLE_VERSION
from chatkit.store.engine import now


def _files() -> list[tuple[str, bytes]]:
    fixtures = [(p.name, p.read_bytes()) for p in sorted(FIXTURES.glob("*.[cj]s[vo]*"))]
    return [*_lifecycle_files(80), *fixtures]


def _count(store: Store, table: sa.Table, dataset_id: str) -> int:
    with store._read() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.dataset_id == dataset_id)
        return int(conn.execute(query).scalar() or 0)


def test_round_trip_builds_todays_sessions(open_store, store_url: str) -> None:
    files = _files()
    reference = importer.import_files(files).sessions
    result = import_files(files)
    store = open_store()
    dataset_id = datasets.save_dataset(store, "mix", result, result.files)
    assert datasets.save_dataset(store, "again", import_files(files), result.files) == dataset_id
    assert _count(store, dataset_sessions, dataset_id) == 0  # no JSON row per session
    reopened = open_store()
    info = reopened.dataset_info(dataset_id)
    assert info is not None and (info.name, info.session_count) == ("mix", len(reference))
    pd.testing.assert_frame_equal(datasets.facts_frame(reopened, dataset_id), sessions_frame(reference))
    assert reopened.load_sessions(dataset_id) == reference
    some = [reference[7].id, reference[2].id, "no such id", reference[40].id]
    assert reopened.load_sessions(dataset_id, some) == [reference[2], reference[7], reference[40]]
    assert reopened.load_sessions(dataset_id, []) == []
    merged = max(reference, key=lambda s: len(s.status_history))
    assert len(merged.status_history) > 2 and reopened.load_session(dataset_id, merged.id) == merged
    assert reopened.load_session(dataset_id, "no such id") is None
    record = reopened.load_dataset(dataset_id)
    assert record is not None and record.sessions == reference


def test_a_frame_of_another_code_version_is_rebuilt_from_the_session_table(store: Store) -> None:
    result = import_files(_lifecycle_files(40))
    dataset_id = datasets.save_dataset(store, "x", result)
    built = datasets.facts_frame(store, dataset_id)
    with store._write() as conn:
        conn.execute(dataset_frames.delete().where(dataset_frames.c.version == datasets.FRAME_VERSION))
    assert store.load_frame(dataset_id, datasets.FRAME_VERSION) is None
    pd.testing.assert_frame_equal(datasets.facts_frame(store, dataset_id), built)
    assert store.load_frame(dataset_id, datasets.FRAME_VERSION) is not None


def test_deleting_and_purging_take_the_blobs_and_keep_held_analyses(store: Store) -> None:
    result = import_files(_lifecycle_files(20))
    kept_id = datasets.save_dataset(store, "kept", result)
    gone_id = datasets.save_dataset(store, "gone", import_files(_lifecycle_files(30)[1:2]))
    held, other = result.session_ids()[0], "cksess_in_no_data_set"
    for session_id in (held, other):
        store.put_analysis(f"k-{session_id}", session_id, "offline", "rules", {"ok": True}, {})
    store.set_pinned(kept_id, True)
    with store._write() as conn:  # both analyses are old
        conn.execute(sa.update(store_analyses()).values(created_at=now() - timedelta(days=9)))
    gone = store.purge_datasets_before(now() + timedelta(seconds=1))
    assert [d.id for d in gone] == [gone_id] and _count(store, dataset_frames, gone_id) == 0
    assert store.get_analysis(f"k-{held}") is not None  # its session is in the kept data set's table
    assert store.get_analysis(f"k-{other}") is None
    assert store.load_frame(kept_id, TABLE_VERSION) is not None
    store.delete_dataset(kept_id)
    assert _count(store, dataset_frames, kept_id) == 0 and store.load_sessions(kept_id) == []


def store_analyses() -> sa.Table:
    from chatkit.store import analyses

    return analyses


@pytest.mark.parametrize("name", ["api_list.json", "lifecycle_responses.jsonl", "dotted_normalize.csv"])
def test_stored_records_hold_no_secret(store: Store, name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    assert b"SECRET" in data.upper()  # the fixture has some
    dataset_id = datasets.save_dataset(store, name, import_files([(name, data)]))
    blobs = store.load_records(dataset_id)
    assert blobs
    for blob in blobs:
        part = PackedRecords.from_blob(blob).unpack()
        assert "secret" not in str(part.table.to_pylist()).lower() + str(part.header).lower()


LONE_SURROGATES = (
    b'{"id":"s\\udfff","status":"cancelled","reason":"x\\ud800y","created_at":1700000000,'
    b'"workflow":{"id":"w\\ud83d\\ude00","state_variables":{"k":"v\\ud800"}},'
    b'"chatkit_configuration":{"a":"\\udc00"},"note":"\\ud800"}\n'
    b'{"id":"s2","status":"active","user":"\\udbff"}\n'
)


@pytest.mark.parametrize(
    "name, data",
    [
        ("lone.jsonl", LONE_SURROGATES),
        ("lone.json", b"[" + LONE_SURROGATES.strip().replace(b"\n", b",") + b"]"),
    ],
)
def test_a_lone_surrogate_escape_is_kept_as_a_replacement_character_end_to_end(
    store: Store, name: str, data: bytes
) -> None:
    """JSON may escape half a surrogate pair; Arrow, parquet, JSON responses and the browser cannot
    hold one, so every string becomes valid Unicode at import (U+FFFD) and nothing fails later."""
    result = import_files([(name, data)])
    assert not result.errors
    assert [s.model_dump() for s in result.sessions] == [
        s.model_dump() for s in importer.import_files([(name, data)]).sessions
    ]
    first = result.sessions[0]
    assert (first.id, first.reason, first.workflow_id) == ("s\ufffd", "x\ufffdy", "w\U0001f600")
    dataset_id = datasets.save_dataset(store, name, result)
    reopened = store.load_sessions(dataset_id, ["s\ufffd", "s2"])
    assert [s.model_dump_json() for s in reopened] == [s.model_dump_json() for s in result.sessions]
    assert reopened[1].user == "\ufffd"
