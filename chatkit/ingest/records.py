"""`RecordsPart`: the raw records behind a columnar import, kept so a session can be rebuilt later.

The session table is the data set's primary form; a `ChatKitSession` is built on demand (one session's
page, its prompt, the API) from the records that made it. Each part holds one file's records of one
kind, as Arrow columns (the file's size, not ten times it as Python objects):

- every part: `session_id: string` (the id of the session the record became) and `row: int64` (the
  number in today's locations: the spreadsheet row, the JSONL line, the array index);
- kind "csv": the row's cells as `c0..c{n-1}` strings, named by `header` (the imported columns only:
  secret-named columns are never kept, and key-shaped values are masked);
- kinds "jsonl" and "json": `text: large_string`, the record's JSON object text; a record whose text
  may hold a secret is re-dumped with `strip_secrets` applied.

Only records that yielded a session are kept. A session with a lifecycle (several records of one id)
has several rows, possibly in several parts; parts are in reading order, rows inside a part too.

A reader packs each chunk's part as soon as it is read (`pack` → `PackedRecords`: zstd parquet, the
form the store saves as it is): the raw records are the size of the file as columns, 5-20x less
packed, and an import holds them beside its session table until it is saved (issue 8's memory aim).
`PackedRecords.unpack(ids)` reads back only the row groups that hold those ids.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chatkit.domain.secrets import redact_value, strip_secrets
from chatkit.ingest import csv_reader
from chatkit.ingest.parsed import Parsed

RecordsKind = Literal["csv", "jsonl", "json"]

# A superset of `secrets._SECRET_TEXT` (no word boundaries, any case, the long s and the Kelvin sign
# that case folding maps to s and k), looked for in a column's bytes at once (`_hinted`); the few cells
# it finds take Python's own `redact_value`, so the masking is exactly the store's. The reference is
# this regex (tests/ingest/test_records.py runs it beside `_hinted`).
SECRET_TEXT_HINT = r"(?i)[sekr\x{17f}][k\x{212a}][-_]|bearer|eyj"
_LONG_S = (0xC5, 0xBF)  # U+017F in UTF-8
_KELVIN = (0xE2, 0x84, 0xAA)  # U+212A in UTF-8

# A superset of what `strip_secrets` would change in a JSON object's text: a secret-like key, a
# credential-shaped value, or a \u escape that could spell either. A line that does not match is kept
# as it was read; one that does is decoded, stripped and re-dumped.
_SECRET_JSON_HINT = re.compile(
    r"secret|passw|passphrase|key|token|cookie|authoriz|credential|bearer|pwd|auth|jwt|otp"
    r"|[sekr\u017f][k\u212a][-_]|eyj|\\u",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RecordsPart:
    """One file's raw records of one kind (see the module docstring for the columns)."""

    file: str
    kind: RecordsKind
    table: pa.Table
    header: list[str] | None = None

    def records(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(session id, row, record) of every row: the record as the validation step takes it."""
        ids = self.table.column("session_id").to_pylist()
        rows = self.table.column("row").to_pylist()
        if self.kind == "csv":
            assert self.header is not None
            columns = csv_reader.plan_columns(self.header, Parsed(self.file)) or []
            cells = [self.table.column(f"c{i}").to_pylist() for i in range(len(self.header))]
            for i, (session_id, row) in enumerate(zip(ids, rows, strict=True)):
                record = csv_reader.cells_record([c[i] for c in cells], columns, Parsed(self.file), "")
                yield session_id, row, record or {}
            return
        for session_id, row, text in zip(ids, rows, self.table.column("text").to_pylist(), strict=True):
            yield session_id, row, json.loads(text)


# Row groups of this many records: a lookup of a few ids reads the id column, then only the row
# groups that hold them.
_ROW_GROUP = 16_384
_META = b"chatkit.records"


@dataclass(frozen=True)
class PackedRecords:
    """A `RecordsPart` as zstd parquet, its file, kind and header in the metadata: the bytes the store
    keeps (`blob`), and what an import holds until then."""

    blob: bytes
    file: str
    kind: RecordsKind
    header: list[str] | None
    rows: int

    @classmethod
    def from_blob(cls, blob: bytes) -> PackedRecords:
        """A stored part (the metadata and row count are read from the parquet footer only)."""
        file = pq.ParquetFile(io.BytesIO(blob))
        meta = json.loads(file.schema_arrow.metadata[_META])
        return cls(blob, meta["file"], meta["kind"], meta["header"], file.metadata.num_rows)

    def unpack(self, session_ids: Collection[str] | None = None) -> RecordsPart:
        """All the rows, or those of `session_ids` (read from the row groups that hold them only)."""
        file = pq.ParquetFile(io.BytesIO(self.blob))
        if session_ids is None:
            table = file.read()
        else:
            wanted = pa.array(list(session_ids), type=pa.string())
            at = np.flatnonzero(pc.is_in(file.read(columns=["session_id"]).column(0), value_set=wanted))
            sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
            groups = np.unique(np.searchsorted(np.cumsum(sizes), at, side="right")).tolist()
            table = file.read_row_groups(groups) if groups else file.schema_arrow.empty_table()
            table = table.filter(pc.is_in(table.column("session_id"), value_set=wanted))
        return RecordsPart(self.file, self.kind, table.replace_schema_metadata(None), self.header)


def pack(part: RecordsPart, where: str | None = None) -> PackedRecords:
    """A part as parquet in reading order. `where` is a JSON document's location pattern (`$.data[{}]`):
    its records keep their locations, since a row number alone does not say which list it was in.

    Not sorted by id: `unpack` finds ids without, and a sorted copy would be alive beside the part."""
    table = part.table
    if part.kind == "json" and where is not None and "{}" in where and "location" not in table.column_names:
        located = [where.format(row) for row in table.column("row").to_pylist()]
        table = table.append_column("location", pa.array(located, type=pa.string()))
    meta = {"file": part.file, "kind": part.kind, "header": part.header}
    buffer = io.BytesIO()
    pq.write_table(
        table.replace_schema_metadata({_META: json.dumps(meta).encode()}),
        buffer,
        compression="zstd",
        row_group_size=_ROW_GROUP,
        # Cells are mostly distinct (ids, times, texts) and zstd finds the repeats: dictionary pages
        # and min/max statistics cost 40 % of the write for a bigger blob (`unpack` reads the ids).
        use_dictionary=False,
        write_statistics=False,
    )
    return PackedRecords(buffer.getvalue(), part.file, part.kind, part.header, table.num_rows)


def json_text(line: str, record: Any) -> str:
    """The text to keep for a JSON record read from `line`: the line itself, unless it may hold a
    secret (then the record without its secrets)."""
    if _SECRET_JSON_HINT.search(line) is None:
        return line
    return dump(record)


def dump(record: Any) -> str:
    """A record's JSON text without its secrets."""
    # ASCII: a lone surrogate (`"\\ud800"`, which json.loads reads) stays an escape Arrow can store.
    return json.dumps(strip_secrets(record), separators=(",", ":"))


def json_part(file: str, kind: RecordsKind, ids: Any, rows: Any, texts: Any) -> RecordsPart:
    """A JSON part from lists or Arrow arrays of ids, rows and texts."""
    table = pa.table(
        {
            "session_id": _arrow(ids, pa.string()),
            "row": _arrow(rows, pa.int64()),
            "text": _arrow(texts, pa.large_string()),
        }
    )
    return RecordsPart(file, kind, table)


def _arrow(values: Any, type_: pa.DataType) -> Any:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(type_)
    return pa.array(values, type=type_)


def csv_part(
    file: str,
    header: list[str],
    ids: pa.Array,
    rows: pa.Array,
    cells: list[pa.Array],
    plain: set[int] | frozenset[int] = frozenset(),
) -> RecordsPart:
    """A CSV part from its columns (`cells` in `header`'s order), key-shaped values masked; the
    `plain` columns' cells are known to be numbers, times or known words (no mask needed)."""
    columns: dict[str, Any] = {"session_id": ids.cast(pa.string()), "row": rows.cast(pa.int64())}
    for i, column in enumerate(cells):
        columns[f"c{i}"] = column.cast(pa.string()) if i in plain else mask_secrets(column)
    return RecordsPart(file, "csv", pa.table(columns), list(header))


def mask_secrets(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A string column with credential-shaped text masked (`redact_value` on the few cells that may
    hold some)."""
    column = column.cast(pa.string())
    found = np.flatnonzero(_hinted(column))
    if not len(found):
        return column
    values = column.to_pylist()
    for i in found.tolist():
        values[i] = redact_value(values[i])
    return pa.array(values, type=pa.string())


def _hinted(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which non-null cells `SECRET_TEXT_HINT` may match: a few numpy passes over the column's bytes
    instead of a regex per cell (~1 s of a million-row CSV's twelve text columns). A match found across
    two cells' bytes marks the first one: a false hint costs one `redact_value`, never a wrong mask."""
    if isinstance(column, pa.ChunkedArray):
        return np.concatenate([_hinted(chunk) for chunk in column.chunks] or [np.zeros(0, dtype=bool)])
    hit = np.zeros(len(column), dtype=bool)
    _, offsets_buffer, data_buffer = column.buffers()
    if data_buffer is None or not len(column):
        return hit
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    low = data | 0x20  # ASCII letters to lower case; the bytes compared below have no other preimage
    n = len(data)

    def equal(at: np.ndarray, text: bytes | tuple[int, ...], raw: bool = False) -> np.ndarray:
        """Whether the bytes starting at each of `at` spell `text` (lower case unless `raw`)."""
        source = data if raw else low
        ok = (at >= 0) & (at + len(text) <= n)
        for k, byte in enumerate(text):
            ok[ok] = source[at[ok] + k] == byte
        return ok

    starts = []
    dash = np.flatnonzero((data == ord("-")) | (data == ord("_")))
    for k_width, k_ok in ((1, equal(dash - 1, b"k")), (3, equal(dash - 3, _KELVIN, raw=True))):
        k_at = dash[k_ok] - k_width
        for first in (b"s", b"e", b"k", b"r"):
            starts.append(k_at[equal(k_at - 1, first)] - 1)
        starts.append(k_at[equal(k_at - 2, _LONG_S, raw=True)] - 2)
        starts.append(k_at[equal(k_at - 3, _KELVIN, raw=True)] - 3)
    b = np.flatnonzero(low == ord("b"))
    starts.append(b[equal(b, b"bearer")])
    y = np.flatnonzero(low == ord("y"))
    starts.append(y[equal(y - 1, b"eyj")] - 1)
    cells = np.searchsorted(offsets, np.concatenate(starts), side="right") - 1
    hit[cells] = True
    if column.null_count:
        hit &= column.is_valid().to_numpy(zero_copy_only=False)
    return hit


def row_number(location: str) -> int:
    """The number in today's location (`row 7`, `line 3`, `$.data[4]`); 0 for `$` or `$.session`."""
    match = re.search(r"\d+", location)
    return int(match.group()) if match else 0
