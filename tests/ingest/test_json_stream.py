"""The streamed JSON list reader (`[...]`, `{"data": [...]}`) equals today's importer: the same facts,
errors and warnings at today's `$.data[4]` locations; what it does not follow goes to today's
importer whole."""

from __future__ import annotations

import json

import pytest
from ingest.test_columnar import assert_same

from chatkit.domain.sample import sample_records
from chatkit.ingest import json_stream
from chatkit.ingest.columnar import import_columnar


@pytest.fixture(autouse=True)
def _small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test document is streamed, through windows and blocks small enough to cut items.
    monkeypatch.setattr(json_stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(json_stream, "WINDOW_BYTES", 300)
    monkeypatch.setattr(json_stream, "ITEMS_PER_BLOCK", 7)


def _items(n: int = 60) -> list:
    records = sample_records(n, seed=4)
    records[3]["current_requests"] = "lots"
    records[5]["reason"] = "déjà vu ✓ " * 40  # multi-byte characters across window edges
    records[8] = "not an object"
    records[9]["ttl_seconds"] = 12345678901234567890
    records[11] = {"id": records[10]["id"], "status": "active", "user": "other"}  # a lifecycle pair
    return records


@pytest.mark.parametrize(
    "document",
    [
        lambda items: items,
        lambda items: {"object": "list", "data": items, "has_more": False},
        lambda items: {"sessions": items, "next": None},
        lambda items: {"data": items, "sessions": None},
    ],
    ids=["list", "API list", "sessions", "data beside null sessions"],
)
@pytest.mark.parametrize("indent", [None, 2])
def test_streamed_lists_give_todays_result(document, indent) -> None:
    data = json.dumps(document(_items()), indent=indent, ensure_ascii=False).encode()
    got = assert_same("d.json", data)
    assert got.fallback is None and got.fast_rows > 30
    assert any(e.location.endswith("[3]") for e in got.errors)
    assert {p.kind for p in got.records} == {"json"}


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "cksess_x", "data": [{"id": "cksess_a"}]}',  # a session that has a data field
        '{"error": {"message": "nope"}, "data": []}',
        '{"data": [{"id": "cksess_a"}], "sessions": [{"id": "cksess_b"}]}',  # sessions wins
        '{"data": [{"id": "cksess_a"}], "data": [{"id": "cksess_b"}]}',
        '[{"object": "chatkit.thread", "id": "t1"}, {"object": "chatkit.thread", "id": "t2"}]',
        '[{"id": "cksess_a"}, {"id": "cksess_b"',  # cut off: today's salvage
        '[{"id": "cksess_a"}, {"id": "cksess_b"}] trailing',
        '[{"id": "cksess_a"}, ' + "[" * 5000 + "]" * 5000 + ', {"id": "cksess_b"}]',
        '[{"id": "cksess_a", "n": ' + "9" * 5000 + "}]",
        "[]",
        '\u00a0[{"id": "cksess_a"}]',
    ],
)
def test_what_the_stream_does_not_follow_goes_to_todays_importer(text: str) -> None:
    got = assert_same("d.json", text.encode())
    assert got.fallback == "a JSON document"


def test_big_documents_only_are_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_stream, "STREAM_MIN_BYTES", 1 << 20)
    got = import_columnar("d.json", json.dumps(_items()).encode())
    assert got.fallback == "a JSON document"
