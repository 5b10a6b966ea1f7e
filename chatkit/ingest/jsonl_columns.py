"""JSONL → the session table: a streamed line reader over the bytes, msgspec for the plain records.

The file's UTF-8 bytes are read a block of lines at a time (never one `str` of the file, nor a list
of all its lines). Each line is decoded by msgspec straight into a typed struct that admits only
what today's validation would take as it is — exact JSON types, a non-blank string, a whole number in
range, epoch seconds/milliseconds or an ISO-8601 UTC time, the known nested objects, no unknown key —
so the per-record checks run in C. Any line msgspec refuses (a comment, a blank or broken line, a
bad value, an unknown or secret key, ...) takes today's line path (`json_reader.parse_jsonl_line` →
`validate_one`), so its line number, JSON error and row-path message are today's, word for word.

A fast record's kept text is msgspec's re-encoding of its struct without `client_secret`; one that
may still hold a secret is its line re-dumped through `strip_secrets` (`records`). Line path records
keep their line as read unless it may hold a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from chatkit.domain.models import MAX_COUNT, ImportIssue
from chatkit.domain.secrets import is_secret_key
from chatkit.ingest.columnar import (
    _MAX_S,
    _MIN_S,
    _TS,
    _WORK,
    ColumnarImport,
    _finish,
    _ints,
    _np,
    _work_values,
)
from chatkit.ingest.json_reader import jsonl_comments, parse_jsonl_line
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.records import _SECRET_JSON_HINT as _HINT
from chatkit.ingest.records import PackedRecords, RecordsKind, dump, json_part, json_text, pack, row_number
from chatkit.ingest.validate import MAX_DEPTH, validate_one

BLOCK_BYTES = 8 << 20  # lines are read this much at a time: Python objects stay a block's worth
LINE_FAST_MAX = 4096  # longer lines take the line path: no number there can pass json.loads' 4,300 digits

# Only checks that msgspec makes in C are in the types (a regex `pattern` would call Python's `re`
# per value, doubling the decode): text edges and ISO shapes are checked by column in `_columns`.
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
_Text = str
_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
_Epoch = Annotated[int, msgspec.Meta(ge=_MIN_S, lt=_MAX_S * 1000)]  # the gap between is checked later
_ISO = (
    r"^20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{3}|\.[0-9]{6})?(?:Z|\+00:00)?$"
)
_Time = _Epoch | str | None
# A text whose both ends are printable ASCII: `strip()` keeps it whole (others are asked in Python).
_ASCII_ENDS = r"(?s)^[!-~](?:.*[!-~])?$"
_SOME_ASCII = r"[!-~]"  # not blank for `strip()`
_Scalar = str | int | bool | None


class _Tracing(msgspec.Struct, forbid_unknown_fields=True, gc=False, omit_defaults=True):
    enabled: bool | None = None


class _Workflow(msgspec.Struct, forbid_unknown_fields=True, gc=False, omit_defaults=True):
    id: _Text | None = None
    version: _Text | None = None
    state_variables: dict[str, _Scalar] | None = None
    tracing: _Tracing | None = None


class _Scope(msgspec.Struct, forbid_unknown_fields=True, gc=False, omit_defaults=True):
    customer_id: _Text | None = None


class _Limits(msgspec.Struct, forbid_unknown_fields=True, gc=False, omit_defaults=True):
    max_requests_per_1_minute: _Count | None = None


class _Record(msgspec.Struct, forbid_unknown_fields=True, gc=False, omit_defaults=True):
    """A record the fast path takes; any other key or type is a decode error (→ today's path)."""

    id: _Id
    object: Literal["chatkit.session"] | msgspec.UnsetType = msgspec.UNSET  # null is "must be text"
    status: Literal["active", "expired", "cancelled"] | None = None
    user: _Text | None = None
    reason: _Text | None = None
    workflow: _Workflow | None = None
    scope: _Scope | None = None
    max_requests_per_1_minute: _Count | None = None
    rate_limits: _Limits | None = None
    current_requests: _Count | None = None
    ttl_seconds: _Count | None = None
    created_at: _Time = None
    expires_at: _Time = None
    cancelled_at: _Time = None
    # Any JSON object, kept raw: checked by `_config_ok` on its bytes.
    chatkit_configuration: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    # Dropped at validation; left out of the kept text.
    client_secret: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_Record)
# Structs are not tracked by the garbage collector (`gc=False`: they hold no cycles): a block's
# thousands of live objects made every full collection walk them all, 6x the decode itself.
#
# The configuration must be an object (or null) with no number json.loads would read as infinity
# (1e400; msgspec keeps it raw, so a number with an exponent takes the line path) and no absurd depth.
# These are checked on the configuration's own bytes, a fraction of the line.
_CONFIG_NOT_OBJECT = r"^[^{n]"
_EXPONENT = r"[:\[,]\s*-?[0-9]+(?:\.[0-9]+)?[eE]"  # a superset: a string may hold the same text
# The kept text of a fast record is msgspec's re-encoding of its struct, without `client_secret`
# (one C call per block; null fields left out, as null and absent read alike), searched once for
# anything else that may be a secret.
_ENCODER = msgspec.json.Encoder()
_HINT_RE2 = "(?i)" + _HINT.pattern.replace(r"\u017f", r"\x{17f}").replace(r"\u212a", r"\x{212a}")


def read_jsonl(name: str, data: bytes, parsed: Parsed, block_bytes: int = BLOCK_BYTES) -> ColumnarImport:
    reader = Reader(name, parsed)
    position, number = 0, 1
    while position < len(data):
        end = data.find(b"\n", position + block_bytes)
        end = len(data) if end < 0 else end
        lines = data[position:end].split(b"\n")
        reader.block(lines, number)
        number += len(lines)
        position = end + 1
    if reader.comments:
        jsonl_comments(reader.comments, parsed)
    return reader.finish()


class Reader:
    """Blocks of JSON values (JSONL lines, or a JSON list's items) → work tables and records parts.
    `where` places a value: "line" (`line 3`), or a pattern such as `$.data[{}]`."""

    def __init__(self, name: str, parsed: Parsed, where: str = "line", kind: RecordsKind = "jsonl") -> None:
        self.name, self.parsed, self.where, self.kind = name, parsed, where, kind
        self.errors: list[ImportIssue] = []
        self.parts: list[pa.Table] = []
        self.slow_rows: list[dict[str, Any]] = []
        self.records: list[PackedRecords] = []
        self.fast = self.slow = self.comments = 0
        self.line = ""
        self._slow_kept: list[tuple[str, int, str]] = []  # the line path's (id, line, text)
        parsed.sink = self._validate

    def block(self, lines: list[bytes], first: int) -> None:
        records: list[_Record] = []
        numbers: list[int] = []
        kept: list[int] = []  # the records' lines, as indexes into `lines`
        slow: list[tuple[bytes, int]] = []
        decode = _DECODER.decode
        for offset, line in enumerate(lines):
            if len(line) <= LINE_FAST_MAX:
                try:
                    record = decode(line)
                except (msgspec.DecodeError, ValueError):
                    pass
                else:
                    records.append(record)
                    numbers.append(first + offset)
                    kept.append(offset)
                    continue
            slow.append((line, first + offset))
        if records:
            late = self._columns(records, numbers, [lines[i] for i in kept])
            slow = sorted(slow + [(lines[kept[i]], numbers[i]) for i in late], key=lambda item: item[1])
        for line, number in slow:
            self.text_line(line.decode("utf-8"), number)
        self._flush_slow()

    def text_line(self, line: str, number: int) -> None:
        """Today's line path (`parse_jsonl_line`), its records validated by `_validate`."""
        self.line = line.strip()  # the kept text: what json.loads reads (no edge whitespace)
        location = self.where.format(number) if "{}" in self.where else None
        self.comments += parse_jsonl_line(line, number, self.parsed, location)

    def _validate(self, record: Any, origin: tuple[str, str]) -> None:
        self.slow += 1
        session = validate_one(record, origin, self.errors)
        if session is not None:
            row = row_number(origin[1])
            self.slow_rows.append(_work_values(session, row))
            self._slow_kept.append((session.id, row, json_text(self.line, record)))

    def finish(self) -> ColumnarImport:
        """The merged import. The work parts are handed over and the `parsed.sink` → reader cycle is
        broken, so the parts (~150 MB a million rows) are freed on return, not at the next collection."""
        parsed, parts, self.parts = self.parsed, self.parts, []
        parsed.sink = None
        done = _finish(parsed, self.errors, parts, self.slow_rows, self.fast, self.slow, self.where)
        done.records = self.records
        return done

    def _flush_slow(self) -> None:
        if self._slow_kept:
            ids, rows, texts = zip(*self._slow_kept, strict=True)
            part = json_part(self.name, self.kind, list(ids), list(rows), list(texts))
            self.records.append(pack(part, self.where))
        self._slow_kept = []

    def _columns(self, records: list[_Record], numbers: list[int], lines: list[bytes]) -> list[int]:
        """The block's plain records as a work table and a records part; the indexes of those whose
        times only a column check could refuse (they take the line path)."""
        workflows = [r.workflow for r in records]
        scopes = [r.scope for r in records]
        limits = [r.rate_limits for r in records]
        arrays: dict[str, pa.Array] = {
            "row": pa.array(numbers, type=pa.int64()),
            "id": pa.array([r.id for r in records], type=pa.string()),
            "status": pa.array([r.status for r in records], type=pa.string()),
            "workflow_id": pa.array([w.id if w else None for w in workflows], type=pa.string()),
            "workflow_version": pa.array([w.version if w else None for w in workflows], type=pa.string()),
            "scope_customer_id": pa.array([s.customer_id if s else None for s in scopes], type=pa.string()),
            "user": pa.array([r.user for r in records], type=pa.string()),
            "rate_top": pa.array([r.max_requests_per_1_minute for r in records], type=pa.int64()),
            "rate_nested": pa.array(
                [x.max_requests_per_1_minute if x else None for x in limits], type=pa.int64()
            ),
            "requests": pa.array([r.current_requests for r in records], type=pa.int64()),
            "ttl_seconds": pa.array([r.ttl_seconds for r in records], type=pa.int64()),
            "reason": pa.array([r.reason for r in records], type=pa.string()),
        }
        ok = _config_ok([r.chatkit_configuration for r in records])
        ok &= _edges(arrays["id"], ident=True)
        for key in ("workflow_id", "workflow_version", "scope_customer_id", "user", "reason"):
            ok &= _edges(arrays[key], ident=False)
        for i, workflow in enumerate(workflows):
            if workflow is not None and workflow.state_variables:
                ok[i] &= not any(is_secret_key(key) for key in workflow.state_variables)
        for key in ("created_at", "expires_at", "cancelled_at"):
            arrays[key], good = _times([getattr(r, key) for r in records])
            ok &= good
        work = pa.table(arrays, schema=_WORK)
        late = np.flatnonzero(~ok).tolist()
        if late:
            keep = pa.array(ok)
            work = work.filter(keep)
            lines = [line for line, good in zip(lines, ok.tolist(), strict=True) if good]
            records = [record for record, good in zip(records, ok.tolist(), strict=True) if good]
        self.parts.append(work)
        self.fast += work.num_rows
        self.parsed.rows += work.num_rows
        self.parsed.added += work.num_rows
        texts = _kept_texts(records, lines, compact=self.kind != "jsonl")
        part = json_part(self.name, self.kind, work.column("id"), work.column("row"), texts)
        self.records.append(pack(part, self.where))
        return late


def _edges(column: pa.Array, *, ident: bool) -> np.ndarray:
    """Texts `validate_one` takes as they are: an id without edge whitespace, other texts not blank
    (null: absent). Printable ASCII decides by column; the rest asks `str.strip()`."""
    null = _np(pc.is_null(column))
    ok = null | _np(pc.match_substring_regex(column, _ASCII_ENDS if ident else _SOME_ASCII))
    if not ok.all():
        values = column.to_pylist()
        for i in np.flatnonzero(~ok).tolist():
            value = values[i]
            ok[i] = value.strip() == value if ident else bool(value.strip())
    return ok


def _times(values: list[Any]) -> tuple[pa.Array, np.ndarray]:
    """Epoch seconds/milliseconds or ISO-8601 UTC text → UTC timestamps, and which values are in
    `parse_timestamp`'s range (False: the record takes the line path for its message)."""
    ok = np.ones(len(values), dtype=bool)
    try:
        numbers = pa.array(values, type=pa.int64())
        texts = None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        numbers = pa.array([v if type(v) is int else None for v in values], type=pa.int64())
        texts = pa.array([v if type(v) is str else None for v in values], type=pa.string())
    digits, given = _ints(numbers)
    seconds = (digits >= _MIN_S) & (digits < _MAX_S)
    millis = (digits >= _MIN_S * 1000) & (digits < _MAX_S * 1000)
    ok &= ~given | seconds | millis
    micros = np.where(seconds, digits * 1_000_000, digits * 1000)
    if texts is not None:
        # By column, not per value: a block's texts are tens of thousands of Python objects.
        shaped = _np(pc.match_substring_regex(texts, _ISO))  # a null is not shaped
        ok &= shaped | _np(pc.is_null(texts))
        from_text, good = _iso(pc.if_else(pa.array(shaped), texts, pa.scalar(None, pa.string())))
        ok &= good
        micros = np.where(given, micros, from_text)
        given |= shaped
    return pa.array(micros, type=pa.int64(), mask=~given).cast(_TS), ok


def _iso(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """ISO texts (already of the right shape) → epoch micros; False where the day does not exist."""
    good = np.ones(len(texts), dtype=bool)
    naive = pc.replace_substring_regex(texts, r"(?:Z|\+00:00)$", "")
    try:
        stamps = naive.cast(pa.timestamp("us"))
    except pa.ArrowInvalid:  # 2026-02-30: find it the way today's check does
        for i, text in enumerate(texts.to_pylist()):
            if text is not None:
                try:
                    datetime.fromisoformat(text.replace("Z", "+00:00"))
                except ValueError:
                    good[i] = False
        stamps = pc.if_else(pa.array(good), naive, None).cast(pa.timestamp("us"))
    return _ints(stamps.cast(pa.int64()))[0], good


def _config_ok(configs: list[Any]) -> np.ndarray:
    """Configurations the row path takes as they are: absent, null, or an object with no number
    that may be infinite and no absurd depth (more than MAX_DEPTH - 3 brackets: the line path)."""
    raw = pa.array([bytes(c) if c is not msgspec.UNSET else None for c in configs], type=pa.string())
    brackets = pc.add(pc.count_substring(raw, "{"), pc.count_substring(raw, "["))
    bad = pc.or_(pc.greater_equal(brackets, MAX_DEPTH - 3), pc.match_substring_regex(raw, _EXPONENT))
    return ~_np(pc.or_(bad, pc.match_substring_regex(raw, _CONFIG_NOT_OBJECT)))


def _kept_texts(records: list[_Record], lines: list[bytes], *, compact: bool) -> pa.Array:
    """The records' JSON texts without `client_secret`; one that may still hold a secret is its line
    re-dumped through `strip_secrets`. `compact`: a configuration kept raw may span lines (an indented
    document's item), and one text a line is how the texts are cut apart."""
    for record in records:
        record.client_secret = msgspec.UNSET
        config = record.chatkit_configuration
        if compact and config is not msgspec.UNSET and b"\n" in bytes(config):
            record.chatkit_configuration = msgspec.Raw(msgspec.json.encode(msgspec.json.decode(config)))
    encoded = _ENCODER.encode_lines(records)
    ends = np.flatnonzero(np.frombuffer(encoded, dtype=np.uint8) == 10)  # one newline per record
    offsets = pa.array(np.concatenate([[0], ends + 1]).astype(np.int64)).buffers()[1]
    with_newlines = pa.Array.from_buffers(
        pa.large_string(), len(ends), [None, offsets, pa.py_buffer(encoded)]
    )
    texts = pc.utf8_rtrim(with_newlines, characters="\n")
    hits = _np(pc.match_substring_regex(texts, _HINT_RE2))
    if not hits.any():
        return texts
    values = texts.to_pylist()
    for i in np.flatnonzero(hits).tolist():
        values[i] = dump(msgspec.json.decode(lines[i]))
    return pa.array(values, type=pa.large_string())
