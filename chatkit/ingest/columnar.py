"""CSV → a session table by columns: the import at a million rows, with today's messages (issue 9).

Today's path makes every row a dict and a pydantic `ChatKitSession`; here the upload's UTF-8 bytes
stream through `pyarrow.csv` a chunk at a time (each freed after it; ragged rows are placed in the
bytes as their chunk comes) with every cell as text, and each column is checked with masks against what today's
path would accept without a word. A row whose every cell is *plain* (an id, a known status, a whole
number, an ISO-8601 UTC time or epoch seconds/milliseconds, text without edge whitespace, ...) becomes
columns directly; any other row (a bad count, an unreadable date, a ragged row, odd whitespace, a
`NaN`) is rebuilt as cells and takes today's row path (`csv_reader.row_record` → `validate_one`), so
its errors are today's, word for word. Files the fast path does not cover (not CSV, quoted header,
unknown columns, NUL bytes, quoted newlines together with ragged rows) go through today's importer
whole. The lifecycle merge is a group-by over the rows whose id repeats, with the README's rule.

The result is a `chatkit.session_table.TABLE_SCHEMA` table, the input of
`chatkit.analytics.facts.facts_frame_from_columns`, and the warnings as `IssueColumns` (the
configuration warnings, ~1 per 10 sessions of real data, built by column).
tests/ingest/test_columnar.py asserts that both paths give the same facts, errors and warnings.

One module past 500 lines for now: the column plan, the per-chunk masks and the hand-over of rows to
today's path are one reader, and each decides what the others may skip. The lifecycle group-by is the
part to move out when this path becomes the default.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from chatkit.domain.lifecycle import TERMINAL_STATUSES
from chatkit.domain.models import (
    API_MIN_RATE_LIMIT,
    API_TTL_RANGE_S,
    ChatKitSession,
    ImportIssue,
    IssueLevel,
)
from chatkit.domain.wording import show
from chatkit.ingest import csv_reader, importer
from chatkit.ingest.decode import DEFAULT_MAX_BYTES, decode
from chatkit.ingest.importer import _sorted
from chatkit.ingest.issue_columns import IssueColumns
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.records import PackedRecords, RecordsPart, csv_part, dump, json_part, pack, row_number
from chatkit.ingest.sniff import looks_jsonl, sniff
from chatkit.ingest.stream import is_jsonl, plain_utf8, sniff_head
from chatkit.ingest.validate import config_field, validate_one
from chatkit.session_table import TABLE_SCHEMA
from chatkit.session_table import TIMESTAMP as _TS

BLOCK_BYTES = 16 << 20  # one chunk of the file at a time: the raw cells of a chunk are freed after it

_MIN_S, _MAX_S = 946_684_800, 4_102_444_800  # parse_timestamp's range: years 2000-2099
_NON_FINITE_RE = "(?i)^(?:" + "|".join(re.escape(t) for t in sorted(csv_reader.NON_FINITE)) + ")$"
_NON_FINITE_SIZES = sorted({len(t) for t in csv_reader.NON_FINITE})  # ASCII: one byte a character
_STATUSES = ["active", "expired", "cancelled"]
_PLAIN_KINDS = frozenset({"object", "status", "count", "time", "bool", "empty"})
# Column paths the fast path knows, and what kind of cell each takes.
_KINDS: dict[tuple[str, ...], str] = {
    ("id",): "id",
    ("object",): "object",
    ("status",): "status",
    ("user",): "text",
    ("reason",): "text",
    ("workflow", "id"): "text",
    ("workflow", "version"): "text",
    ("scope", "customer_id"): "text",
    ("max_requests_per_1_minute",): "count",
    ("rate_limits", "max_requests_per_1_minute"): "count",
    ("current_requests",): "count",
    ("ttl_seconds",): "count",
    ("created_at",): "time",
    ("expires_at",): "time",
    ("cancelled_at",): "time",
    ("workflow", "state_variables"): "empty",
    ("workflow", "tracing"): "empty",
    ("workflow", "tracing", "enabled"): "bool",
    ("chatkit_configuration",): "empty",
}
_OUT = {
    ("id",): "id",
    ("status",): "status",
    ("user",): "user",
    ("reason",): "reason",
    ("workflow", "id"): "workflow_id",
    ("workflow", "version"): "workflow_version",
    ("scope", "customer_id"): "scope_customer_id",
    ("max_requests_per_1_minute",): "rate_top",
    ("rate_limits", "max_requests_per_1_minute"): "rate_nested",
    ("current_requests",): "requests",
    ("ttl_seconds",): "ttl_seconds",
    ("created_at",): "created_at",
    ("expires_at",): "expires_at",
    ("cancelled_at",): "cancelled_at",
}
_WORK = pa.schema(
    [
        pa.field("row", pa.int64()),
        pa.field("id", pa.string()),
        pa.field("status", pa.string()),
        pa.field("workflow_id", pa.string()),
        pa.field("workflow_version", pa.string()),
        pa.field("scope_customer_id", pa.string()),
        pa.field("user", pa.string()),
        pa.field("rate_top", pa.int64()),
        pa.field("rate_nested", pa.int64()),
        pa.field("requests", pa.int64()),
        pa.field("ttl_seconds", pa.int64()),
        pa.field("created_at", _TS),
        pa.field("expires_at", _TS),
        pa.field("cancelled_at", _TS),
        pa.field("reason", pa.string()),
    ]
)


def _kind(path: tuple[str, ...]) -> str | None:
    if path in _KINDS:
        return _KINDS[path]
    if path[0] == "chatkit_configuration":
        return "any"  # any JSON under it (dict[str, Any])
    if path[:2] == ("workflow", "state_variables"):
        return "any" if len(path) == 3 else "deep"  # a variable is one scalar
    return None


@dataclass
class ColumnarImport:
    """One file's sessions as a `TABLE_SCHEMA` table, with today's errors and warnings."""

    table: pa.Table
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: IssueColumns = field(default_factory=IssueColumns)  # columns: they can be ~1 per 10 sessions
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    fast_rows: int = 0  # rows read as columns
    row_path_rows: int = 0  # rows that took today's row path (bad or unusual ones)
    fallback: str | None = None  # why the whole file took today's importer, if it did
    records: list[PackedRecords] = field(default_factory=list)  # the raw records of every session
    # Today's wording of a record's location, its row number in `{}` ("row {}", "line {}",
    # "$.data[{}]"): a JSON document's records keep theirs (`table_import`), the status history's source.
    where: str | None = None


def import_columnar(
    name: str,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_field_bytes: int = csv_reader.DEFAULT_MAX_FIELD_BYTES,
    block_bytes: int = BLOCK_BYTES,
) -> ColumnarImport:
    """`import_bytes` of one file, as columns: CSV and JSONL by columns, a JSON document by today's
    importer. A plain UTF-8 upload is read as bytes, block by block (`stream`)."""
    parsed = Parsed(name)
    body = plain_utf8(data, max_bytes)
    if body is None:  # not plain UTF-8: today's decode says why, or gives the text to re-encode
        text = decode(data, parsed, max_bytes)
        sniffed = sniff(text, Parsed(name)) if text is not None else None
        if text is None or sniffed is None:
            return _whole_file(name, data, max_bytes, max_field_bytes, "nothing to read")
        body = sniffed.text.encode("utf-8")
    head = sniff_head(body, name)
    if head is None:
        return _whole_file(name, data, max_bytes, max_field_bytes, "nothing to read")
    if head.format == "csv":
        reader = _CsvColumns(name, body, parsed, max_field_bytes, block_bytes)
        why = reader.read()
        if why is not None:
            return _whole_file(name, data, max_bytes, max_field_bytes, why)
        return reader.finish()
    jsonl = _is_jsonl(head.text, head.start, head.format) if head.whole else is_jsonl(head)
    if not jsonl:
        from chatkit.ingest import json_stream  # it builds on this module

        # A big document's list is streamed; a failed try leaves `parsed` as it was.
        if len(body) >= json_stream.STREAM_MIN_BYTES:
            streamed = json_stream.read_json_list(name, body, Parsed(name, issues=list(parsed.issues)))
            if streamed is not None:
                return streamed
        if jsonl is None:  # the head could not tell: the whole text does (today's test)
            jsonl = _is_jsonl(body.decode("utf-8"), head.start, head.format)
        if not jsonl:
            return _whole_file(name, data, max_bytes, max_field_bytes, "a JSON document")
    from chatkit.ingest.jsonl_columns import read_jsonl  # it builds on this module

    return read_jsonl(name, body, parsed, block_bytes)


def _is_jsonl(text: str, start: int, format: str) -> bool:
    """Would `parse_json` hand this text to `parse_jsonl`? (The same test: the first value ends
    before the text does, or the first lines look like JSONL.)"""
    if format == "jsonl":
        return True
    if text[start] != "{":
        return False
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.msg.startswith("Extra data") or looks_jsonl(text, start)
    except (ValueError, RecursionError):
        return False
    return False


class _KeepRecords(importer._Validated):
    """Today's validation sink, keeping each validated record's text (without its secrets)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.rows: list[int] = []
        self.texts: list[str] = []
        self.locations: list[str] = []  # today's wording (`$.data[4]`, `line 3`): the status history's source

    def __call__(self, record: Any, origin: tuple[str, str]) -> None:
        before = len(self.sessions)
        super().__call__(record, origin)
        if len(self.sessions) > before:
            self.ids.append(self.sessions[-1].id)
            self.rows.append(row_number(origin[1]))
            self.texts.append(dump(record))
            self.locations.append(origin[1])


def _whole_file(name: str, data: bytes, max_bytes: int, max_field_bytes: int, why: str) -> ColumnarImport:
    """Today's importer (`import_bytes`), its sessions as a table: the reference, and the fallback."""
    kept = _KeepRecords()
    return row_path_import(importer._parse_bytes(name, data, max_bytes, max_field_bytes, kept), kept, why)


def row_path_import(parsed: Parsed, kept: _KeepRecords, why: str) -> ColumnarImport:
    """A file read by today's importer into `kept`, as a table with its records (kind "json", each
    with its `location`: a JSON file's paths are not rebuilt from a row number alone)."""
    result = importer._finish([parsed], kept)
    records = []
    if kept.ids:
        part = json_part(parsed.name, "json", kept.ids, kept.rows, kept.texts)
        located = part.table.append_column("location", pa.array(kept.locations, type=pa.string()))
        records = [pack(RecordsPart(part.file, part.kind, located))]
    return ColumnarImport(
        table=sessions_table(result.sessions),
        errors=result.errors,
        warnings=IssueColumns.from_issues(result.warnings),
        files=result.files,
        rows_read=result.rows_read,
        row_path_rows=result.rows_read,
        fallback=why,
        records=records,
    )


def sessions_table(sessions: list[ChatKitSession]) -> pa.Table:
    """`TABLE_SCHEMA` of validated sessions."""
    work = pa.Table.from_pylist([_work_values(s, i) for i, s in enumerate(sessions)], schema=_WORK)
    return _session_table(work, np.array([bool(s.config_warnings()) for s in sessions], dtype=bool))


class _Ragged:
    """Finds ragged rows' lines in the bytes, in file order (a search resumes where the last ended)."""

    def __init__(self, data: bytes, header_end: int) -> None:
        self.data = data
        self.position = header_end  # the header's line end: every line searched starts after one
        self.line = 1

    def find(self, text: str) -> int | None:
        data = self.data
        needle = b"\n" + text.encode("utf-8")
        found = data.find(needle + b"\n", self.position)
        if found < 0 and data.endswith(needle) and len(data) - len(needle) >= self.position:
            found = len(data) - len(needle)
        if found < 0:
            return None
        self.line += data.count(b"\n", self.position, found + 1)
        self.position = found + len(needle)
        return self.line


class _CsvColumns:
    def __init__(self, name: str, data: bytes, parsed: Parsed, max_field_bytes: int, block_bytes: int):
        self.name, self.data, self.parsed = name, data, parsed
        self.max_field_bytes, self.block_bytes = max_field_bytes, block_bytes
        self.errors: list[ImportIssue] = []  # validation errors, in row order
        self.parts: list[pa.Table] = []
        self.slow_rows: list[dict[str, Any]] = []  # validated sessions of the row path
        self.records: list[PackedRecords] = []  # the fast rows' cells, chunk by chunk
        self.slow_records: list[tuple[str, int, list[str]]] = []  # the row path's (id, row, cells)
        self.fast = self.slow = 0
        self._ragged_done = 0  # ragged rows taken so far (their numbers are not the valid rows')

    # ---- reading ---------------------------------------------------------------------------------
    def read(self) -> str | None:
        """Read the file's UTF-8 bytes into `parts`, a chunk at a time (each freed after it); a reason
        when the file must take today's importer instead."""
        data = self.data
        end = data.find(b"\n")
        first_line = (data if end < 0 else data[:end]).decode("utf-8")
        if '"' in first_line or "\r" in first_line.rstrip("\r") or b"\x00" in data:
            return "a header the fast path does not read"
        self.delimiter = max((",", ";", "\t"), key=first_line.count)
        header = next(csv_reader.csv_rows(io.StringIO(first_line), delimiter=self.delimiter), [])
        self.header = header
        names = [cell.strip().lstrip("\ufeff") for cell in header]
        columns = csv_reader.plan_columns(names, self.parsed) if header else None
        if columns is None:
            return "no usable header"
        found = [(_kind(c.path), c) for c in columns]
        kinds = [(k, c) for k, c in found if k is not None and k != "deep"]
        if len(kinds) != len(found):
            return "columns the fast path does not know"
        paths = {c.path for c in columns}
        # `a.b` beside `a`: a row with both filled is a row error; the fast path accepts only parents
        # that must be empty (then the row path reports the conflict).
        if any(
            _KINDS.get(c.path[:i]) != "empty"
            for c in columns
            for i in range(1, len(c.path))
            if c.path[:i] in paths
        ):
            return "columns nested under other columns"
        self.columns = columns
        self.kinds = kinds
        self.record_header = [names[c.index] for c in columns]
        # Columns whose fast cells are numbers, times, statuses or booleans: no secret to mask there.
        self.plain = {i for i, (kind, _) in enumerate(kinds) if kind in _PLAIN_KINDS}
        if end < 0:
            return "no data rows"
        ragged: list[str] = []

        def invalid(row: Any) -> str:
            ragged.append(row.text)
            return "skip"

        width = len(header)
        batches = pcsv.open_csv(
            pa.BufferReader(data),  # the bytes in place: no copy, no `str`
            read_options=pcsv.ReadOptions(
                column_names=[f"f{i}" for i in range(width)],  # the header's width, not the first row's
                skip_rows=1,
                block_size=self.block_bytes,
                use_threads=False,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=self.delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        self._place = _Ragged(data, end)
        has_cr = b"\r" in data
        valid = 0
        placed: list[tuple[int, str]] = []  # ragged rows found in the bytes, not yet taken
        taken = 0
        for batch in batches:
            # The ragged rows pyarrow met while parsing this chunk: found in the bytes (no quoted line
            # breaks then, so a line is a record; checked at the end), they take the row path in
            # their place and the chunk's rows are numbered around them.
            if ragged[taken:] and has_cr:
                return "ragged rows and quoted line breaks together"
            for text in ragged[taken:]:
                line = self._place.find(text)
                if line is None:
                    return "ragged rows the fast path cannot place"
                placed.append((line, text))
            taken = len(ragged)
            n = batch.num_rows
            first = 2 + valid + self._ragged_done
            within = 0
            while within < len(placed) and placed[within][0] < first + n + within:
                within += 1
            numbers = np.delete(
                np.arange(first, first + n + within, dtype=np.int64),
                np.asarray([line - first for line, _ in placed[:within]], dtype=np.int64),
            )
            for item in placed[:within]:
                self._ragged(*item)
            del placed[:within]
            self._chunk(batch, numbers)
            valid += n
        for text in ragged[taken:]:
            line = self._place.find(text)
            if line is None:
                return "ragged rows the fast path cannot place"
            placed.append((line, text))
        records = 1 + len(ragged) + valid
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        # More lines than records: a quoted cell holds a line break, and a line is no longer a row.
        if ragged and lines != records:
            return "ragged rows and quoted line breaks together"
        for item in placed:
            self._ragged(*item)
        return None

    def _ragged(self, row_number: int, text: str) -> None:
        self._ragged_done += 1
        cells = next(csv_reader.csv_rows(io.StringIO(text), delimiter=self.delimiter), [])
        self._row_path(cells, row_number)

    # ---- one chunk -------------------------------------------------------------------------------
    def _chunk(self, batch: pa.RecordBatch, numbers: np.ndarray) -> None:
        n = batch.num_rows
        if n == 0:
            return
        cells = batch.columns
        plain = np.ones(n, dtype=bool)
        limit = self.max_field_bytes // 4
        as_bytes = dict(enumerate(map(_Bytes, cells)))
        for col in as_bytes.values():
            # Bytes >= characters: a cell within the limit in bytes is within it in characters
            # (the length comes from the offsets, no scan). A plain row has a plain id, so it is
            # never blank.
            plain &= col.length <= limit
        values: dict[str, pa.Array] = {}
        for kind, column in self.kinds:
            # Popped: a column's byte copy and masks are freed once it is checked, not at the chunk's end.
            ok, value = _check(kind, cells[column.index], as_bytes.pop(column.index))
            plain &= ok
            out = _OUT.get(column.path)
            if out is not None:
                values[out] = value
        fast = np.flatnonzero(plain)
        slow = np.flatnonzero(~plain)
        if slow.size:
            rows = [batch.column(i).take(pa.array(slow)).to_pylist() for i in range(batch.num_columns)]
            for j, row_number in enumerate(numbers[slow].tolist()):
                self._row_path([column[j] for column in rows], row_number)
        if fast.size:
            self.parsed.rows += fast.size
            self.parsed.added += fast.size
            self.fast += fast.size
            arrays = {"row": pa.array(numbers)}
            for field_ in _WORK:
                if field_.name != "row":
                    arrays[field_.name] = values.get(field_.name, pa.nulls(n, field_.type))
            arrays |= {f"c{i}": cells[c.index] for i, c in enumerate(self.columns)}
            # One filter of the whole chunk (a copy only when some rows took the row path).
            both = pa.table(arrays) if fast.size == n else pa.table(arrays).filter(pa.array(plain))
            self.parts.append(both.select([f.name for f in _WORK]).cast(_WORK))
            cells_kept = [both.column(f"c{i}") for i in range(len(self.columns))]
            part = csv_part(
                self.name, self.record_header, both.column("id"), both.column("row"), cells_kept, self.plain
            )
            self.records.append(pack(part))

    def _row_path(self, row: list[str], row_number: int) -> None:
        """Today's loop body of `csv_reader.parse_csv` for one row (its messages, word for word)."""
        parsed = self.parsed
        if not row or all(not cell.strip() for cell in row):
            return
        parsed.rows += 1
        self.slow += 1
        location = f"row {row_number}"
        record = csv_reader.row_record(row, self.header, self.columns, parsed, location, self.max_field_bytes)
        if record is None:
            return
        parsed.added += 1
        session = validate_one(record, (self.name, location), self.errors)
        if session is not None:
            self.slow_rows.append(_work_values(session, row_number))
            self.slow_records.append((session.id, row_number, [row[c.index] for c in self.columns]))

    def finish(self) -> ColumnarImport:
        if self.parsed.rows == 0 and not self.parsed.issues:
            self.parsed.warn("the CSV has a header row but no data rows")
        records = self.records
        if self.slow_records:
            ids, rows, cells = zip(*self.slow_records, strict=True)
            columns = [pa.array(list(column), type=pa.string()) for column in zip(*cells, strict=True)]
            rows_part = csv_part(self.name, self.record_header, pa.array(ids), pa.array(rows), columns)
            records = [*records, pack(rows_part)]
        done = _finish(self.parsed, self.errors, self.parts, self.slow_rows, self.fast, self.slow, "row")
        done.records = records
        return done


def _finish(
    parsed: Parsed,
    errors: list[ImportIssue],
    parts: list[pa.Table],
    slow_rows: list[dict[str, Any]],
    fast: int,
    slow: int,
    word: str,
) -> ColumnarImport:
    """The merge, the configuration warnings and today's order of issues (`importer._finish`).

    `parts` (the work table chunk by chunk) is handed over: `_merge` empties it as it goes."""
    if not parsed.added and not parsed.issues:
        parsed.warn("the file holds no sessions")
    if slow_rows:
        parts.append(pa.Table.from_pylist(slow_rows, schema=_WORK))
    table, merge_warnings, last_rows = _merge(parts, parsed.name, word)
    config, warned = _config_warnings(table, last_rows, parsed.name, word)
    table = _session_table(table, warned)
    issues = parsed.issues
    order = {parsed.name: 0}
    errors = _sorted(errors + [i for i in issues if i.level == IssueLevel.error], order)
    read_warnings = [i for i in issues if i.level == IssueLevel.warning]
    warnings = IssueColumns.concat([merge_warnings, config, read_warnings]).sorted(order)
    return ColumnarImport(
        table=table,
        errors=errors,
        warnings=warnings,
        files=[parsed.name],
        rows_read=parsed.rows,
        fast_rows=fast,
        row_path_rows=slow,
        where=word if "{}" in word else f"{word} {{}}",
    )


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _iso_templates() -> dict[int, tuple[np.ndarray, bool]]:
    """What `parse_timestamp`'s ISO-8601 in UTC looks like, by length: each byte a digit (-1) or
    itself, and whether it ends in a zone (`Z`, `+00:00`). The nine lengths differ."""
    out = {}
    for fraction in ("", ".ddd", ".dddddd"):
        for zone in ("", "Z", "+00:00"):
            text = "20dd-dd-ddTdd:dd:dd" + fraction + zone
            out[len(text)] = (np.array([-1 if ch == "d" else ord(ch) for ch in text]), bool(zone))
    return out


_ISO_TEMPLATES = _iso_templates()
_ZONED_SIZES = [size for size, (_, zoned) in _ISO_TEMPLATES.items() if zoned]
_EPOCH_DIGITS = (9, 10, 12, 13)  # seconds or milliseconds of years 2000-2099 (range checked apart)
_MAX_COUNT_DIGITS = 15
_MAX_ZEROS = 6  # a count's `.000000`: the longest fraction the masks accept


def _one_of(sizes: np.ndarray, allowed: Sequence[int]) -> np.ndarray:
    """`np.isin` for a few small sizes, by a lookup table (`isin` sorts)."""
    table = np.zeros(max(allowed) + 2, dtype=bool)
    table[list(allowed)] = True
    return table[np.minimum(sizes, len(table) - 1)]


def _printable(byte: np.ndarray) -> np.ndarray:
    """`[!-~]`: printable ASCII, no space (a cell whose both ends are is one `strip()` keeps whole)."""
    return (byte >= 0x21) & (byte <= 0x7E)


class _Bytes:
    """A text column's cells as byte ranges of its data buffer: masks by numpy over the bytes, where a
    regex per cell (`match_substring_regex`) was most of the import's cost. Cells are valid UTF-8."""

    def __init__(self, col: pa.Array) -> None:
        assert col.null_count == 0  # the CSV reader gives "" for an empty cell, never null
        bounds = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset : col.offset + len(col) + 1]
        self.col = col
        # Views of the offsets, int32 as Arrow keeps them: 24 int64 bytes a cell in every column of a
        # chunk were ~50 MB of a chunk's working memory.
        self.start, self.end = bounds[:-1], bounds[1:]
        self.length = self.end - self.start

    @cached_property
    def data(self) -> np.ndarray:
        # One zero byte past the end: an empty cell's first and last byte read it (and match nothing).
        data = self.col.buffers()[2]
        bytes_ = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
        return np.concatenate([bytes_, np.zeros(1, np.uint8)])

    @cached_property
    def first(self) -> np.ndarray:
        return np.where(self.length > 0, self.data[self.start], 0)

    @cached_property
    def last(self) -> np.ndarray:
        return np.where(self.length > 0, self.data[self.end - 1], 0)

    def only(self, keep: np.ndarray) -> pa.Array:
        """The column with null where not `keep`: its buffers shared, only a validity bitmap new."""
        bits = np.concatenate([np.zeros(self.col.offset, dtype=bool), keep])
        bitmap = pa.py_buffer(np.packbits(bits, bitorder="little"))
        return pa.Array.from_buffers(
            pa.string(), len(keep), [bitmap, *self.col.buffers()[1:]], offset=self.col.offset
        )

    def non_finite(self) -> np.ndarray:
        """`_NON_FINITE_RE`: the regex on the few cells that could match (ASCII, 3-9 bytes, ending in
        n, f or y)."""
        tail = self.last | 0x20
        maybe = _one_of(self.length, _NON_FINITE_SIZES) & (
            (tail == ord("n")) | (tail == ord("f")) | (tail == ord("y"))
        )
        out = np.zeros(len(maybe), dtype=bool)
        at = np.flatnonzero(maybe)
        if at.size:
            out[at] = _np(pc.match_substring_regex(self.col.take(pa.array(at)), _NON_FINITE_RE))
        return out

    @cached_property
    def number(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per cell: digits, or digits `.` digits (shape); whether it has the `.`; the integer part's
        length; the fraction's length; whether the fraction is all zeros (told for fractions of at
        most `_MAX_ZEROS` digits only)."""
        data, start, end = self.data, self.start, self.end
        other = (data - ord("0")) > 9  # bytes wrap: below "0" too
        seen = np.concatenate([[0], np.cumsum(other, dtype=np.int32)])  # non-digits before each byte
        count = seen[end] - seen[start]
        one = count == 1
        # A cell's first non-digit is the column's `seen[start]`-th one (the zero byte past the end
        # is one, so there is always one).
        where = np.flatnonzero(other)
        point = np.where(one, where[np.minimum(seen[start], len(where) - 1)], end)
        dot = one & (data[point] == ord("."))
        shape = (count == 0) | dot
        whole = np.where(dot, point - start, self.length)
        fraction = np.where(dot, end - point - 1, 0)
        # All zeros, for the fractions the masks accept (at most 6 digits): a byte at a time.
        zeros = np.ones(len(dot), dtype=bool)
        short = np.flatnonzero(dot & (fraction <= _MAX_ZEROS))
        for k in range(1, _MAX_ZEROS + 1):
            within = short[fraction[short] >= k]
            zeros[within] &= data[point[within] + k] == ord("0")
        return shape, dot, whole, fraction, zeros

    def integers(self, ok: np.ndarray) -> np.ndarray:
        """The value of each `ok` cell (digits, perhaps a `.` and zeros), else 0: Arrow's casts over
        the same buffers. The masks allow at most 15 digits, which a float64 holds exactly."""
        dot = self.number[1]
        values = _ints(pc.cast(self.only(ok & ~dot), pa.int64()))[0]
        if (ok & dot).any():
            floats = pc.fill_null(pc.cast(self.only(ok & dot), pa.float64()), 0.0)
            values = np.where(dot, np.asarray(floats.to_numpy(), dtype=np.float64).astype(np.int64), values)
        return values

    def iso(self) -> tuple[np.ndarray, np.ndarray]:
        """`_ISO` (`20dd-dd-ddTdd:dd:dd`, `.ddd` or `.dddddd`, `Z` or `+00:00`), and which have a zone."""
        found = np.zeros(len(self.length), dtype=bool)
        for size, (template, _) in _ISO_TEMPLATES.items():
            at = np.flatnonzero(self.length == size)
            if not at.size:
                continue
            cells = self.data[self.start[at, None] + np.arange(size)]
            digit = (cells >= 48) & (cells <= 57)
            fixed = template >= 0
            good = np.all(np.where(fixed, cells == template, digit), axis=1)
            found[at] = good
        zoned = found & _one_of(self.length, _ZONED_SIZES)
        return found, zoned


def _plain_text(cells: _Bytes) -> np.ndarray:
    """Text `strip()` keeps whole (printable ASCII at both ends) that is no NaN/Infinity token."""
    return _printable(cells.first) & _printable(cells.last) & ~cells.non_finite()


def _check(kind: str, col: pa.Array, cells: _Bytes) -> tuple[np.ndarray, pa.Array]:
    """(cells this column's fast path accepts, their values with null for empty)."""
    empty = cells.length == 0
    if kind == "id":
        short = cells.length <= 512  # bytes >= characters: only longer cells need counting
        if not short.all():
            short |= _np(pc.less_equal(pc.utf8_length(col), 512))
        return _plain_text(cells) & short, col
    if kind == "text":
        return empty | _plain_text(cells), cells.only(~empty)
    if kind == "object":
        return empty | _np(pc.equal(col, "chatkit.session")), col
    if kind == "status":
        return empty | _np(pc.is_in(col, pa.array(_STATUSES))), cells.only(~empty)
    if kind == "empty":
        return empty, col
    if kind == "bool":
        words = pa.array(sorted(csv_reader.TRUE_WORDS | csv_reader.FALSE_WORDS))
        return empty | _np(pc.is_in(col, words)), col
    if kind == "any":  # free values (configuration, state variables): anything but NaN or a list/dict
        first = cells.first
        free = _printable(first) & (first != ord("[")) & (first != ord("{")) & _printable(cells.last)
        return empty | (free & ~cells.non_finite()), col
    if kind == "count":  # a whole number, perhaps written `7.0` (a float column's export)
        shape, dot, whole, fraction, zeros = cells.number
        lead = (cells.first != ord("0")) | (whole == 1)
        point = ~dot | ((fraction >= 1) & (fraction <= 6) & zeros)
        number = shape & (whole >= 1) & (whole <= _MAX_COUNT_DIGITS) & lead & point
        values = cells.integers(number)
        return empty | number, pa.array(values, type=pa.int64(), mask=~number)
    if kind == "time":
        return _times(cells, empty)
    raise AssertionError(kind)


def _times(cells: _Bytes, empty: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """ISO-8601 in UTC, or epoch seconds / milliseconds, as `parse_timestamp` reads them."""
    shape, dot, whole, fraction, zeros = cells.number
    point = ~dot | ((fraction == 1) & zeros)
    epoch = shape & _one_of(whole, _EPOCH_DIGITS) & (cells.first != ord("0")) & point
    digits = cells.integers(epoch)
    millis = digits >= 100_000_000_000
    seconds = np.where(millis, digits // 1000, digits)
    micros = np.where(millis, digits * 1000, digits * 1_000_000)
    epoch &= (seconds >= _MIN_S) & (seconds < _MAX_S) & (~millis | (digits >= _MIN_S * 1000))
    iso, zoned = cells.iso()
    try:  # Arrow reads a zone only into a zoned type, and none into one
        naive = pc.cast(cells.only(iso & ~zoned), pa.timestamp("us")).cast(pa.int64())
        aware = pc.cast(cells.only(zoned), _TS).cast(pa.int64())
    except pa.ArrowInvalid:  # a date that does not exist (2026-02-30): those cells take the row path
        iso_micros = np.zeros(len(iso), dtype=np.int64)
        iso[:] = False
    else:
        iso_micros = np.where(zoned, _ints(aware)[0], _ints(naive)[0])
    value = np.where(epoch, micros, iso_micros)
    known = epoch | iso
    values = pa.array(value, type=pa.int64(), mask=~known).cast(_TS)
    return empty | known, values


def _work_values(session: ChatKitSession, row_number: int) -> dict[str, Any]:
    wf, scope, limits = session.workflow, session.scope, session.rate_limits
    values = {
        "row": row_number,
        "id": session.id,
        "status": session.status,
        "workflow_id": wf.id if wf else None,
        "workflow_version": wf.version if wf else None,
        "scope_customer_id": scope.customer_id if scope else None,
        "user": session.user,
        "rate_top": session.max_requests_per_1_minute,
        "rate_nested": limits.max_requests_per_1_minute if limits else None,
        "requests": session.current_requests,
        "ttl_seconds": session.ttl_seconds,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "cancelled_at": session.cancelled_at,
        "reason": session.reason,
    }
    return values


# Fields whose different non-null values across one id's records are a conflict (lifecycle.py).
_CONFLICTS = (
    ("status", "status"),
    ("workflow.id", "workflow_id"),
    ("workflow.version", "workflow_version"),
    ("scope.customer_id", "scope_customer_id"),
    ("user", "user"),
    ("created_at", "created_at"),
    ("cancelled_at", "cancelled_at"),
)


def _merge(parts: list[pa.Table], name: str, word: str) -> tuple[pa.Table, IssueColumns, np.ndarray]:
    """One row per id in order of first appearance (`merge_lifecycle`'s rule), its conflict warnings,
    and each id's last row (where its configuration warnings point).

    `parts` holds the fast rows chunk by chunk and the row path's rows after them, and is emptied:
    the result is a `take` of them (plus the merged rows) in row order, a column at a time, each
    column of the parts freed once taken (~150 MB of work table a million rows is not alive twice).
    """
    # Chunked, not combined: a combined copy would be one more work table.
    held = [pa.concat_tables(parts) if parts else _WORK.empty_table()]
    parts.clear()
    work = held[0]
    rows = work.column("row").to_numpy()
    codes = pc.dictionary_encode(work.column("id").combine_chunks()).indices.to_numpy()
    repeated = np.bincount(codes)[codes] > 1 if len(codes) else np.zeros(0, dtype=bool)
    single = np.flatnonzero(~repeated)
    if not repeated.any():
        order = np.argsort(rows, kind="stable")
        del work
        return _take_each(held, order), IssueColumns(), rows[order]
    pair = np.flatnonzero(repeated)
    pair = pair[np.argsort(rows[pair], kind="stable")]  # the merge reads each id's records in row order
    group = work.take(pa.array(pair))
    warnings = _conflicts(group.to_pandas(timestamp_as_object=False), name, word)
    # Each id's records together, in row order; `starts` where each id's run begins.
    key = codes[pair]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
    ends = np.r_[starts[1:], len(order)] - 1
    at = np.arange(len(order))

    def last(known: np.ndarray) -> pa.Array:
        """Each id's last record with a known value (its row in `group`; null if none): later
        records fill in."""
        best = np.maximum.reduceat(np.where(known[order], at, -1), starts)
        return pa.array(order[np.maximum(best, 0)], mask=best < 0)

    status = group.column("status")
    terminal = _np(pc.is_in(status, pa.array(sorted(TERMINAL_STATUSES))))
    final_status = pc.coalesce(status.take(last(terminal)), status.take(last(_known(status) & ~terminal)))
    pair_rows = rows[pair][order]
    columns = {
        f.name: group.column(f.name).take(last(_known(group.column(f.name))))
        for f in _WORK
        if f.name not in ("row", "status")
    }
    merged = pa.table({"row": pa.array(pair_rows[starts]), "status": final_status, **columns}, schema=_WORK)
    index = np.concatenate([single, work.num_rows + np.arange(merged.num_rows)])
    first_rows = np.concatenate([rows[single], pair_rows[starts]])
    last_rows = np.concatenate([rows[single], pair_rows[ends]])
    by_first = np.argsort(first_rows, kind="stable")
    del work, group, columns, status, final_status
    held = [pa.concat_tables([held.pop(), merged])]
    del merged
    return _take_each(held, index[by_first]), warnings, last_rows[by_first]


def _take_each(held: list[pa.Table], indices: np.ndarray) -> pa.Table:
    """`held`'s one table's `take(indices)`, a column at a time, each column dropped once taken; `held`
    is emptied, so with no other reference the peak is the table plus one column, not two tables."""
    table = held.pop()
    schema, at = table.schema, pa.array(indices, type=pa.int64())
    columns = {}
    for name in table.column_names:
        columns[name] = table.column(name).take(at)
        table = table.drop_columns([name])
    return pa.table(columns, schema=schema)


def _conflicts(group: pd.DataFrame, name: str, word: str) -> IssueColumns:
    """`merge_lifecycle`'s conflict warnings (few: only ids with several records have any)."""
    out: list[tuple[int, int, str, str, str]] = []  # (row, field's rank, session id, field, message)
    for rank, (label, column) in enumerate(_CONFLICTS):
        values = group[column]
        if column == "status":
            values = values.where(values.isin(TERMINAL_STATUSES))
        known = group.loc[values.notna(), ["id", "row"]].assign(value=values[values.notna()])
        previous = known.groupby("id", sort=False)[["value", "row"]].shift(1)
        differ = previous["value"].notna() & (previous["value"] != known["value"])
        for index in np.flatnonzero(differ.to_numpy()):
            now, before = known.iloc[index], previous.iloc[index]
            value, old = _py(now["value"]), _py(before["value"])
            source = f"{name}:{_where(word, now['row'])}"
            old_source = f"{name}:{_where(word, before['row'])}"
            message = (
                f"conflicting records of one session: {show(old)} in {old_source} "
                f"vs {show(value)} in {source}; kept {show(value)} (the later record wins)"
            )
            out.append((int(now["row"]), rank, now["id"], label, message))
    out.sort(key=lambda item: (item[0], item[1]))  # merge_lifecycle's order: record by record
    rows = np.asarray([item[0] for item in out], dtype=np.int64)
    return IssueColumns.build(
        file=name,
        location=_locations(word, rows),
        session_id=[item[2] for item in out],
        field=[item[3] for item in out],
        message=[item[4] for item in out],
        key=rows,  # the number in each location (`_locations`)
    )


def _where(word: str, row: Any) -> str:
    """A row's location: `row 7`, `line 3` for a word; `$.data[4]` for a pattern with `{}`."""
    return word.format(int(row)) if "{}" in word else f"{word} {int(row)}"


def _py(value: Any) -> Any:
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def _config_warnings(
    work: pa.Table, last_rows: np.ndarray, name: str, word: str
) -> tuple[IssueColumns, np.ndarray]:
    """`ChatKitSession.config_warnings` of every merged session, by columns (each message joined
    from its few pieces, no Python object per warning), and which sessions have one."""
    top, nested = _ints(work.column("rate_top")), _ints(work.column("rate_nested"))
    rate = np.where(top[1], top[0], nested[0])
    has_rate = top[1] | nested[1]
    ttl, has_ttl = _ttl(work)
    lo, hi = API_TTL_RANGE_S
    bad_ttl = has_ttl & ((ttl < lo) | (ttl > hi))
    low_rate = has_rate & (rate < API_MIN_RATE_LIMIT)
    differ = top[1] & nested[1] & (top[0] != nested[0])
    rate_field = config_field("max_requests_per_1_minute")
    # `config_warnings`' three, in its order and words: (which sessions, field, text and number pieces).
    kinds = (
        (bad_ttl, config_field("ttl"), ("ttl ", ttl, f" s is outside the API's documented {lo}-{hi} s")),
        (
            low_rate,
            rate_field,
            ("max_requests_per_1_minute ", rate, f" is below the API's minimum of {API_MIN_RATE_LIMIT}"),
        ),
        (
            differ,
            rate_field,
            (
                "max_requests_per_1_minute and rate_limits.max_requests_per_1_minute differ (",
                top[0],
                " vs ",
                nested[0],
                "); the top-level value is used",
            ),
        ),
    )
    at, fields, messages = [], [], []
    for mask, field_name, pieces in kinds:
        where = np.flatnonzero(mask)
        at.append(where)
        fields.append(pa.repeat(pa.scalar(field_name, pa.string()), len(where)))
        texts = [p if isinstance(p, str) else pa.array(p[where]).cast(pa.string()) for p in pieces]
        messages.append(pc.binary_join_element_wise(*texts, ""))
    # Session by session (in table order), each one's warnings in `config_warnings`' order: stable.
    sessions = np.concatenate(at)
    order = np.argsort(sessions, kind="stable")
    sessions = sessions[order]
    rows = last_rows[sessions]
    warnings = IssueColumns.build(
        file=name,
        location=_locations(word, rows),
        session_id=work.column("id").take(pa.array(sessions)),
        field=pa.concat_arrays(fields).take(pa.array(order)),
        message=pa.concat_arrays(messages).take(pa.array(order)),
        key=rows,  # the number in each location (`_locations`)
    )
    return warnings, bad_ttl | low_rate | differ


def _locations(word: str, rows: np.ndarray) -> pa.Array:
    """`_where` of many rows, by column. Its words and patterns hold no digit but the row's, so
    the row is the location's sort key (`IssueColumns`)."""
    prefix, _, suffix = word.partition("{}") if "{}" in word else (f"{word} ", "", "")
    return pc.binary_join_element_wise(prefix, pa.array(rows, type=pa.int64()).cast(pa.string()), suffix, "")


def _known(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return ~np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False), dtype=bool)


def _ints(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    known = _known(column)
    values = np.asarray(pc.fill_null(column, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return values, known


def _ttl(work: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """`ChatKitSession.ttl`: the given TTL, else `expires_at - created_at` rounded (never below 0)."""
    given, has_given = _ints(work.column("ttl_seconds"))
    created, has_created = _ints(work.column("created_at").cast(pa.int64()))
    expires, has_expires = _ints(work.column("expires_at").cast(pa.int64()))
    derived = np.maximum(0, np.round((expires - created) / 1e6)).astype(np.int64)
    has_derived = has_created & has_expires
    return np.where(has_given, given, derived), has_given | has_derived


def _session_table(work: pa.Table, warned: np.ndarray) -> pa.Table:
    """The work table as `TABLE_SCHEMA`: the customer is `scope.customer_id`, else `user`; the rate
    limit the top-level value, else `rate_limits`'."""
    scope = work.column("scope_customer_id")
    customer = pc.if_else(pc.fill_null(pc.not_equal(scope, ""), False), scope, work.column("user"))
    columns: dict[str, Any] = {
        "id": work.column("id"),
        "status": work.column("status"),
        "workflow_id": work.column("workflow_id"),
        "workflow_version": work.column("workflow_version"),
        "customer_id": customer,
        "rate_limit": pc.coalesce(work.column("rate_top"), work.column("rate_nested")),
        "requests": work.column("requests"),
        "ttl_seconds": work.column("ttl_seconds"),
        "created_at": work.column("created_at"),
        "expires_at": work.column("expires_at"),
        "cancelled_at": work.column("cancelled_at"),
        "reason": work.column("reason"),
        "has_config_warning": pa.array(warned, type=pa.bool_()),
    }
    return pa.table(columns, schema=TABLE_SCHEMA)
