"""The streamed JSONL reader (bytes, blocks of lines, msgspec for plain records) equals today's line
reader on the edge cases where a strict decoder and `json.loads` could part."""

from __future__ import annotations

import codecs
import gc
import json
import weakref

import pytest
from ingest.test_columnar import _sample_jsonl, assert_same

from chatkit.ingest.jsonl_columns import Reader
from chatkit.ingest.parsed import Parsed

_PLAIN = '{"id": "cksess_a", "status": "active", "created_at": 1712346000}'
_CASES = {
    "infinite number in the configuration": '{"id": "cksess_b", "chatkit_configuration": {"x": 1e400}}',
    "small float in the configuration": '{"id": "cksess_b", "chatkit_configuration": {"x": 1.5e3}}',
    "deep configuration": '{"id": "cksess_b", "chatkit_configuration": ' + '{"a": ' * 70 + "1" + "}" * 71,
    "configuration not an object": '{"id": "cksess_b", "chatkit_configuration": [1]}',
    "non-breaking space around the line": '\u00a0{"id": "cksess_b"}\u00a0',
    "id with a trailing space": '{"id": "cksess_b "}',
    "id with a non-ASCII space": '{"id": "cksess_b\u2003"}',
    "blank user": '{"id": "cksess_b", "user": "\u3000"}',
    "a day that does not exist": '{"id": "cksess_b", "created_at": "2026-02-30T10:00:00Z"}',
    "hour 24": '{"id": "cksess_b", "created_at": "2026-01-01T24:00:00Z"}',
    "epoch between seconds and milliseconds": '{"id": "cksess_b", "created_at": 9999999999}',
    "float count": '{"id": "cksess_b", "current_requests": 5.0}',
    "boolean count": '{"id": "cksess_b", "current_requests": true}',
    "huge integer": '{"id": "cksess_b", "current_requests": ' + "9" * 5000 + "}",
    "duplicate key": '{"id": "cksess_b", "status": "active", "status": "Cancelled"}',
    "unknown key": '{"id": "cksess_b", "status_history": []}',
    "secret state variable": '{"id": "cksess_b", "workflow": {"state_variables": {"api_key": "x"}}}',
    "null object": '{"id": "cksess_b", "object": null}',
    "comment": "# a comment",
    "CRLF": '{"id": "cksess_b", "status": "cancelled"}\r',
}


@pytest.mark.parametrize("line", list(_CASES.values()), ids=list(_CASES))
def test_edge_lines_give_todays_result(line: str) -> None:
    text = "\n".join([_PLAIN, line, _PLAIN.replace("cksess_a", "cksess_c"), ""])
    got = assert_same("e.jsonl", text.encode("utf-8", "surrogatepass"))
    kept = [record for part in got.records for _, _, record in part.unpack().records()]  # each text is JSON
    assert len(kept) == len(got.table)  # three ids, one record each


def test_small_blocks_keep_line_numbers() -> None:
    got = assert_same("s.jsonl", _sample_jsonl(300, 5), block_bytes=4096)
    assert got.fast_rows > 0 and got.row_path_rows > 0


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + (_PLAIN + "\n" + _PLAIN + "\n").encode(),
        (_PLAIN.replace("cksess_a", "cksess_é") + "\n" + _PLAIN + "\n").encode("cp1252"),
        (_PLAIN + "\n" + _PLAIN + "\n").encode("utf-16"),
    ],
    ids=["utf-8 BOM", "Windows-1252", "UTF-16"],
)
def test_other_encodings_give_todays_result(data: bytes) -> None:
    assert_same("x.jsonl", data)


def test_objects_one_per_line_in_a_json_file_are_jsonl() -> None:
    lines = [json.dumps({"id": f"cksess_{i}", "reason": "x" * 3000}) for i in range(200)]
    got = assert_same("x.json", ("\n".join(lines) + "\n").encode())  # the head ends mid-file
    assert got.fallback is None and got.fast_rows == 200


def test_finish_frees_the_work_parts_without_the_garbage_collector() -> None:
    reader = Reader("f.jsonl", Parsed("f.jsonl"))
    reader.block([_PLAIN.encode(), _PLAIN.replace("cksess_a", "cksess_c").encode()], 1)
    part = weakref.ref(reader.parts[0])
    gc.disable()
    try:
        done = reader.finish()
        del reader
        assert part() is None  # no cycle keeps it: freed by reference counting alone
    finally:
        gc.enable()
    assert done.table.column("id").to_pylist() == ["cksess_a", "cksess_c"]
