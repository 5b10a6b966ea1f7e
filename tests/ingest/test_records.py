"""The raw records a columnar import keeps (`ColumnarImport.records`): they rebuild today's sessions,
and they hold no secret."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ingest.test_columnar import _sample_csv, _sample_jsonl
from support import FIXTURES

from chatkit.domain.lifecycle import merge_lifecycle
from chatkit.domain.models import ImportIssue
from chatkit.domain.secrets import redact_value
from chatkit.ingest.columnar import ColumnarImport, import_columnar
from chatkit.ingest.importer import import_bytes  # today's row path: the reference
from chatkit.ingest.records import SECRET_TEXT_HINT, PackedRecords, RecordsPart, _hinted, mask_secrets
from chatkit.ingest.validate import validate_one

_WORD = {"csv": "row", "jsonl": "line"}


def _parts(got: ColumnarImport) -> list[RecordsPart]:
    return [packed.unpack() for packed in got.records]


def _rebuilt(name: str, data: bytes, **options: int) -> tuple[list[dict], list[dict], int]:
    """(sessions rebuilt from the kept records, today's sessions, records kept)."""
    got = import_columnar(name, data, **options)
    rows = sorted((row, part.kind, record) for part in _parts(got) for _, row, record in part.records())
    errors: list[ImportIssue] = []
    sessions, origins = [], []
    for row, kind, record in rows:
        origin = (name, f"{_WORD[kind]} {row}") if kind in _WORD else (name, "$")
        session = validate_one(record, origin, errors)
        assert session is not None, (row, record, errors)
        sessions.append(session)
        origins.append(origin)
    merged, _ = merge_lifecycle(sessions, origins)
    exclude = None if got.fallback is None else {"status_history"}  # `$.data[4]` is not kept whole
    reference = import_bytes(name, data).sessions
    return (
        [s.model_dump(exclude=exclude) for s in merged],
        [s.model_dump(exclude=exclude) for s in reference],
        len(rows),
    )


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.[cj]s[vo]*")), ids=lambda p: p.name)
def test_fixture_records_rebuild_todays_sessions(path) -> None:
    rebuilt, reference, _ = _rebuilt(path.name, path.read_bytes())
    assert rebuilt == reference


def test_csv_records_rebuild_todays_sessions_across_chunks() -> None:
    rebuilt, reference, kept = _rebuilt("s.csv", _sample_csv(600, 1), block_bytes=1 << 14)
    assert rebuilt == reference
    assert kept > len(reference)  # the lifecycle pairs are kept record by record


def test_jsonl_records_rebuild_todays_sessions() -> None:
    rebuilt, reference, kept = _rebuilt("s.jsonl", _sample_jsonl(500, 3))
    assert rebuilt == reference
    assert kept > len(reference)


def test_records_name_the_row_and_the_session() -> None:
    csv = b"id,status\ncksess_a,active\ncksess_b,lost\ncksess_c,cancelled\n"
    (part,) = _parts(import_columnar("c.csv", csv))
    assert (part.kind, part.header) == ("csv", ["id", "status"])
    assert part.table.column("row").to_pylist() == [2, 4]  # row 3 is an error: not kept
    assert part.table.column("session_id").to_pylist() == ["cksess_a", "cksess_c"]
    doc = b'{"object": "list", "data": [{"id": "cksess_1"}, {"id": 5}, {"id": "cksess_3"}]}'
    (part,) = _parts(import_columnar("d.json", doc))
    assert part.kind == "json" and part.table.column("row").to_pylist() == [0, 2]
    assert [json.loads(t)["id"] for t in part.table.column("text").to_pylist()] == ["cksess_1", "cksess_3"]


_KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUV"


def _all_text(parts) -> str:
    return json.dumps([part.table.to_pylist() for part in parts] + [part.header for part in parts])


def test_csv_records_hold_no_secret() -> None:
    lines = ["id,client_secret,reason"] + [f"cksess_{i},ek_{i}_hidden_value_1234567890,ok" for i in range(5)]
    lines.append(f"cksess_9,x,called with Bearer {_KEY}")
    lines.append(f"cksess_8,x,lots{_KEY}")  # no word boundary: Python's rule keeps it, and so do we
    lines.append("cksess_7,x,has NaN")
    got = import_columnar("c.csv", ("\n".join(lines) + "\n").encode())
    text = _all_text(_parts(got))
    assert "hidden_value" not in text and "client_secret" not in text
    assert f"Bearer {_KEY}" not in text and "[redacted]" in text
    assert f"lots{_KEY}" in text


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "cksess_s", "client_secret": "ek_hidden"}',
        '{"id": "cksess_s", "\\u0063lient_secret": "ek_hidden"}',  # the key spelled with an escape
        '{"id": "cksess_s", "workflow": {"id": "wf", "state_variables": {"apiKey": "ek_hidden"}}}',
        '{"id": "cksess_s", "reason": "sent Bearer ek_hidden_but_long_enough"}',
    ],
)
def test_jsonl_records_hold_no_secret(line: str) -> None:
    data = (line + "\n" + '{"id": "cksess_plain", "status": "active"}\n').encode()
    got = import_columnar("s.jsonl", data)
    texts = [t for part in _parts(got) for t in part.table.column("text").to_pylist()]
    assert len(texts) == 2 and not any("ek_hidden" in t for t in texts)
    assert {"id": "cksess_plain", "status": "active"} in [json.loads(t) for t in texts]


def test_an_import_holds_its_records_packed_and_unpacks_only_the_ids_asked() -> None:
    got = import_columnar("s.csv", _sample_csv(60_000, 1), block_bytes=1 << 23)
    assert len(got.records) > 1 and all(isinstance(p, PackedRecords) for p in got.records)
    parts = _parts(got)
    # Held as zstd parquet: a fraction of the columns they unpack to (issue 8's memory aim).
    assert sum(len(p.blob) for p in got.records) * 4 < sum(p.table.nbytes for p in parts)
    assert sum(p.rows for p in got.records) == sum(p.table.num_rows for p in parts)

    def pairs(ps: list[RecordsPart]) -> list[tuple[str, int]]:
        return [
            pair
            for p in ps
            for pair in zip(p.table["session_id"].to_pylist(), p.table["row"].to_pylist(), strict=True)
        ]

    everyone = pairs(parts)
    # in different parts and row groups
    wanted = {everyone[3][0], everyone[len(everyone) // 2][0], everyone[-1][0]}
    rows = pairs([p.unpack(wanted) for p in got.records])
    assert rows == [pair for pair in everyone if pair[0] in wanted] and {i for i, _ in rows} == wanted
    assert all(p.unpack([]).table.num_rows == 0 for p in got.records)
    again = PackedRecords.from_blob(got.records[0].blob)  # as the store reads it back
    assert (again.file, again.kind, again.header, again.rows) == (
        got.records[0].file,
        got.records[0].kind,
        got.records[0].header,
        got.records[0].rows,
    )


# Text near the hint's patterns: its letters in both cases, the long s and the Kelvin sign, dashes,
# "bearer"/"eyj" pieces, multi-byte neighbours.
_HINT = re.compile("[sekr\u017f\u212a][k\u212a][-_]|bearer|eyj", re.I)  # SECRET_TEXT_HINT in Python's re
_NEAR = st.text(alphabet=list("sSekKrR-_ bBeaAryYjJ.x\u017f\u212a\u00e9\u4e2d"), max_size=12)


@given(st.lists(st.one_of(st.none(), _NEAR), max_size=30), st.integers(0, 5))
@example(["KK", "", "", None, "", "", "", "", "-x"], 0)  # a hint whose dash is eight cells on
@settings(max_examples=400, deadline=None)
def test_the_byte_hint_finds_every_cell_the_regex_finds(cells: list[str | None], cut: int) -> None:
    column = pa.array(cells, type=pa.string())[cut:]  # a slice: offsets not starting at 0
    regex = pc.fill_null(pc.match_substring_regex(column, SECRET_TEXT_HINT), False).to_numpy(
        zero_copy_only=False
    )
    hint = _hinted(column)
    assert not (regex & ~hint).any(), "a cell the regex finds was missed"
    # Only a cell whose bytes run into the next cells' may be extra (it costs one `redact_value`); empty
    # and null cells have no bytes, so "the next" can be any number of cells away.
    texts = [c or "" for c in column.to_pylist()]
    for i in np.flatnonzero(hint & ~regex):
        match = _HINT.search("".join(texts[i:]))
        assert column[i].is_valid and match is not None and match.start() < len(texts[i])


def test_masking_is_redact_value_on_every_cell() -> None:
    cells = [
        "sk-" + "a" * 20,
        "Bearer abc.def",
        None,
        "plain",
        "ſk_" + "b" * 20,
        "eyJ" + "a" * 9 + "." + "b" * 9 + ".c",
        "sk-short",
    ]
    assert mask_secrets(pa.array(cells)).to_pylist() == [
        None if c is None else redact_value(c) for c in cells
    ]
