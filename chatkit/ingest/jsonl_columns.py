"""JSONL → the session table: today's line reader, with a sink that keeps plain records as columns.

The reading stays `json_reader.parse_jsonl` (its line numbers, comment lines and JSON errors are
today's, because they are its own); only the sink changes. A record whose every field is plain —
exact JSON types that validation would accept as they are (a non-blank string, a whole number in
range, epoch seconds/milliseconds or an ISO-8601 UTC time, the known nested objects) — is appended
to column lists with a few type checks; any other record takes `validate_one`, today's row path, for
today's message. A JSON document (not JSONL) takes today's importer whole (see `columnar`).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import pyarrow as pa

from chatkit.domain.models import MAX_COUNT, SESSION_OBJECT, ImportIssue
from chatkit.domain.secrets import is_secret_key
from chatkit.ingest.columnar import _MAX_S, _MIN_S, _TS, _WORK, ColumnarImport, _finish, _work_values
from chatkit.ingest.json_reader import parse_jsonl
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.records import RecordsPart, dump, json_part
from chatkit.ingest.validate import MAX_DEPTH, validate_one

_ISO = re.compile(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6})?(?:Z|\+00:00)?")
_STATUSES = frozenset({"active", "expired", "cancelled"})
_TOP = frozenset(
    {
        "id", "object", "status", "user", "reason", "workflow", "scope", "max_requests_per_1_minute",
        "rate_limits", "current_requests", "ttl_seconds", "created_at", "expires_at", "cancelled_at",
        "chatkit_configuration",
    }
)  # fmt: skip
_WORKFLOW = frozenset({"id", "version", "state_variables", "tracing"})
_SCALAR_TYPES = (str, int, bool, type(None))
BLOCK_ROWS = 100_000  # column lists become an Arrow table this often: Python lists stay small


class _NotPlain(Exception):
    """A record the fast path leaves to today's row path."""


def read_jsonl(name: str, text: str, parsed: Parsed) -> ColumnarImport:
    sink = _Sink(name, parsed)
    parsed.sink = sink
    parse_jsonl(text, parsed)
    sink.flush()
    done = _finish(parsed, sink.errors, sink.parts, sink.slow_rows, sink.fast, sink.slow, "line")
    done.records = sink.records
    return done


class _Sink:
    def __init__(self, name: str, parsed: Parsed) -> None:
        self.name, self.parsed = name, parsed
        self.errors: list[ImportIssue] = []
        self.parts: list[pa.Table] = []
        self.slow_rows: list[dict[str, Any]] = []
        self.records: list[RecordsPart] = []
        self.kept: tuple[list[str], list[int], list[str]] = ([], [], [])  # id, line, text
        self.fast = self.slow = 0
        self.cols: dict[str, list[Any]] = {f.name: [] for f in _WORK}
        self.iso: dict[str, list[bool]] = {k: [] for k in ("created_at", "expires_at", "cancelled_at")}

    def __call__(self, record: Any, origin: tuple[str, str]) -> None:
        line = int(origin[1].removeprefix("line "))
        try:
            values = _plain(record)
        except _NotPlain:
            self.slow += 1
            session = validate_one(record, origin, self.errors)
            if session is not None:
                self.slow_rows.append(_work_values(session, line))
                self._keep(session.id, line, record)
            return
        self.fast += 1
        cols = self.cols
        cols["row"].append(line)
        for key, value in zip(_KEYS, values, strict=True):
            cols[key].append(value)
        self._keep(values[0], line, record)
        if len(cols["row"]) >= BLOCK_ROWS:
            self.flush()

    def _keep(self, session_id: str, line: int, record: Any) -> None:
        ids, lines, texts = self.kept
        ids.append(session_id)
        lines.append(line)
        texts.append(dump(record))

    def flush(self) -> None:
        if self.kept[0]:
            self.records.append(json_part(self.name, "jsonl", *self.kept))
            self.kept = ([], [], [])
        cols = self.cols
        if not cols["row"]:
            return
        arrays: dict[str, pa.Array] = {}
        for field in _WORK:
            values = cols[field.name]
            if field.type == _TS:
                arrays[field.name] = _timestamps(values)
            else:
                arrays[field.name] = pa.array(values, type=field.type)
        self.parts.append(pa.table(arrays, schema=_WORK))
        self.cols = {f.name: [] for f in _WORK}


_KEYS = [f.name for f in _WORK if f.name != "row"]


def _timestamps(values: list[Any]) -> pa.Array:
    """Epoch micros (int) or ISO text (already checked by `fromisoformat`) -> UTC timestamps."""
    if all(type(v) is not str for v in values):
        return pa.array(values, type=pa.int64()).cast(_TS)
    micros = [v if type(v) is not str else None for v in values]
    texts = [v.removesuffix("Z").removesuffix("+00:00") if type(v) is str else None for v in values]
    from_text = pa.array(texts, type=pa.string()).cast(pa.timestamp("us")).cast(pa.int64())
    merged = [m if m is not None else t for m, t in zip(micros, from_text.to_pylist(), strict=True)]
    return pa.array(merged, type=pa.int64()).cast(_TS)


def _plain(record: Any) -> tuple[Any, ...]:
    """The work columns of a record that validation would take as it is; `_NotPlain` otherwise."""
    if type(record) is not dict:
        raise _NotPlain
    for key in record:
        if key not in _TOP and not (type(key) is str and is_secret_key(key)):
            raise _NotPlain
    get = record.get
    session_id = get("id")
    if type(session_id) is not str or not 0 < len(session_id) <= 512 or session_id.strip() != session_id:
        raise _NotPlain
    if "object" in record and record["object"] != SESSION_OBJECT:  # null is "must be text"
        raise _NotPlain
    status = get("status")
    if status is not None and status not in _STATUSES:
        raise _NotPlain
    workflow = get("workflow")
    wf_id = wf_version = None
    if workflow is not None:
        if type(workflow) is not dict or not _WORKFLOW.issuperset(workflow):
            raise _NotPlain
        wf_id, wf_version = _text(workflow.get("id")), _text(workflow.get("version"))
        variables = workflow.get("state_variables")
        if variables is not None and (
            type(variables) is not dict
            or any(type(v) not in _SCALAR_TYPES for v in variables.values())
            or any(type(k) is str and is_secret_key(k) for k in variables)
        ):
            raise _NotPlain
        tracing = workflow.get("tracing")
        if tracing is not None and (
            type(tracing) is not dict
            or tracing.keys() - {"enabled"}
            or type(tracing.get("enabled")) not in (bool, type(None))
        ):
            raise _NotPlain
    scope = get("scope")
    customer = None
    if scope is not None:
        if type(scope) is not dict or scope.keys() - {"customer_id"}:
            raise _NotPlain
        customer = _text(scope.get("customer_id"))
    limits = get("rate_limits")
    nested = None
    if limits is not None:
        if type(limits) is not dict or limits.keys() - {"max_requests_per_1_minute"}:
            raise _NotPlain
        nested = _count(limits.get("max_requests_per_1_minute"))
    config = get("chatkit_configuration")
    if config is not None:
        _free(config)
    return (
        session_id,
        status,
        wf_id,
        wf_version,
        customer,
        _text(get("user")),
        _count(get("max_requests_per_1_minute")),
        nested,
        _count(get("current_requests")),
        _count(get("ttl_seconds")),
        _time(get("created_at")),
        _time(get("expires_at")),
        _time(get("cancelled_at")),
        _text(get("reason")),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is not str or not value.strip():  # numbers become text, blanks None: the row path
        raise _NotPlain
    return value


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise _NotPlain
    return value


def _time(value: Any) -> int | str | None:
    """Epoch micros for a number, the text for an ISO-8601 UTC time (cast by columns later)."""
    if value is None:
        return None
    if type(value) is int:
        if _MIN_S <= value < _MAX_S:
            return value * 1_000_000
        if _MIN_S * 1000 <= value < _MAX_S * 1000:
            return value * 1000
        raise _NotPlain
    if type(value) is str and _ISO.fullmatch(value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # a day that does not exist: the row path words it
            raise _NotPlain from None
        return value
    raise _NotPlain


def _free(config: Any) -> None:
    """`chatkit_configuration`: any JSON object, but no NaN/Infinity and no absurd depth."""
    if type(config) is not dict:
        raise _NotPlain
    stack = [(config, 1)]
    while stack:
        node, depth = stack.pop()
        if depth >= MAX_DEPTH - 1:
            raise _NotPlain
        for item in node.values() if type(node) is dict else node:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is float:
                if not math.isfinite(item):
                    raise _NotPlain
            elif kind not in _SCALAR_TYPES:
                raise _NotPlain
