"""Read ChatKit session exports (JSON, JSONL, CSV) into validated, merged `ChatKitSession`s.

Inputs, detected from content (the file name is only a hint):
- JSON: one session, `{"session": {...}}`, a list, `{"sessions": [...]}`, or an API list response
  `{"object": "list", "data": [...]}`. Comments and trailing commas are accepted (with a warning).
- JSONL: one session per line; blank lines and `//` or `#` comment lines are skipped.
- CSV (`,` `;` or tab): dotted columns as `pandas.json_normalize(...).to_csv()` writes them
  (`workflow.id`, `rate_limits.max_requests_per_1_minute`, `512.0`, `True`) or snake columns
  (`workflow_id`, `workflow_version`, `customer_id`). Every cell is read as text; an empty cell is an
  absent value, a literal `NaN` is an error. Rows are counted as a spreadsheet shows them (header = row 1).

Every source funnels into `import_records`, the one validation path. Problems become `ImportIssue`s
naming the file, where (`row 7`, `line 3`, `$.data[4]`, `whole file`), the session id and the field;
a bad row never costs its neighbours. Secret-like fields (`client_secret`, ...) are dropped and their
values never appear in a message.

Lifecycle merge (`merge_lifecycle`): records sharing an id are one session seen several times (the
create response `active`, then the cancel response `cancelled`). They merge into one session:
- status: a terminal status (`cancelled`, `expired`) beats `active`, whatever the order; among
  terminal statuses the last record in input order wins;
- other fields: later non-null values fill in and override earlier ones (nested objects merge key by
  key); null never erases a value;
- `status_history` lists each observation (status, observed_at, source "file:location"), active ones
  first, exact repeats dropped;
- records that really contradict each other (two different terminal statuses, or different non-null
  `workflow.id`, `workflow.version`, `scope.customer_id`, `user`, `created_at`, `cancelled_at`) give a
  warning naming both sources and the value kept (the last record in input order).
"""

from __future__ import annotations

import ast
import codecs
import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import json5
from pydantic import ValidationError

from chatkit.domain.models import (
    ChatKitSession,
    ImportIssue,
    ImportResult,
    IssueLevel,
    StatusChange,
)
from chatkit.domain.rules import paused_gc
from chatkit.domain.secrets import is_secret_key

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
MAX_DEPTH = 64  # a session is 3-4 levels deep; anything far deeper is not an export
LENIENT_MAX_CHARS = 5 * 1024 * 1024  # json5 is pure Python: only small files get the lenient parser
_ECHO_CHARS = 80
_TERMINAL = ("cancelled", "expired")
_SESSION_OBJECT = "chatkit.session"

# Plural names for files that hold something other than sessions.
_OBJECT_NAMES = {
    "chatkit.thread": "ChatKit threads",
    "chatkit.thread_item": "ChatKit thread items",
    "chatkit.thread.item": "ChatKit thread items",
    "chatkit.thread.deleted": "ChatKit thread deletions",
    "chat.completion": "chat completions",
    "response": "Responses API responses",
    "thread": "Assistants threads",
    "file": "files",
    "model": "models",
}
# Signatures of common non-text files people upload by mistake.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one): save or export it as CSV"),
    (b"\x1f\x8b", "gzip-compressed: decompress it first"),
    (b"%PDF", "a PDF document, not a data export"),
    (b"\x89PNG", "a PNG image, not a data export"),
    (b"\xff\xd8\xff", "a JPEG image, not a data export"),
    (b"SQLite format 3\x00", "a SQLite database, not a data export"),
    (b"PAR1", "a Parquet file: export it as CSV or JSON"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office file: save it as CSV"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

# CSV columns whose cells stay text even when they look like numbers (ids, versions, free text).
_TEXT_PATHS = {
    ("id",),
    ("object",),
    ("status",),
    ("user",),
    ("reason",),
    ("workflow", "id"),
    ("workflow", "version"),
    ("scope", "customer_id"),
}
_SNAKE_COLUMNS = {
    "workflow_id": ("workflow", "id"),
    "workflow_version": ("workflow", "version"),
    "customer_id": ("scope", "customer_id"),
    "scope_customer_id": ("scope", "customer_id"),
    "rate_limits_max_requests_per_1_minute": ("rate_limits", "max_requests_per_1_minute"),
}
_INDEX_HEADERS = {"", "unnamed: 0", "index"}
_INT = re.compile(r"[-+]?(?:0|[1-9]\d{0,17})")
_FLOAT = re.compile(
    r"[-+]?(?:\d{1,30}\.\d{0,30}|\.\d{1,30})(?:[eE][-+]?\d{1,3})?|[-+]?\d{1,30}[eE][-+]?\d{1,3}"
)
_NON_FINITE = {"nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_ENVELOPE_ARRAY = re.compile(r'"(sessions|data)"\s*:\s*\[')
_LEADING_WS = re.compile(r"[\s\ufeff]*")

Origin = tuple[str, str]  # (file, location)


# ---------------------------------------------------------------------------------------------------
# Public entry points. Each runs with the cyclic GC paused: an import creates ~10 objects per record
# and no cycles, and with the GC on, 100k records trigger full collections over an ever larger heap
# (about 2x slower).


@paused_gc()
def import_files(files: Sequence[tuple[str, bytes]], *, max_bytes: int = DEFAULT_MAX_BYTES) -> ImportResult:
    """Several files -> one data set; the lifecycle records of one id are merged across files."""
    parsed = [_parse_bytes(name, data, max_bytes) for name, data in files]
    return _finish(parsed)


@paused_gc()
def import_bytes(name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ImportResult:
    return import_files([(name, data)], max_bytes=max_bytes)


@paused_gc()
def import_text(text: str, name: str = "pasted JSON", *, max_bytes: int = DEFAULT_MAX_BYTES) -> ImportResult:
    """Pasted text: JSON, JSONL or CSV, detected from the content."""
    if len(text) > max_bytes // 4 and len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        return _finish(
            [_Parsed(name, issues=[_too_big(name, len(text.encode("utf-8", "surrogatepass")), max_bytes)])]
        )
    return _finish([_parse_text(name, text)])


@paused_gc()
def import_paths(paths: Sequence[str | Path], *, max_bytes: int = DEFAULT_MAX_BYTES) -> ImportResult:
    """Files on disk; one over `max_bytes` is reported without being read."""
    parsed = []
    for raw in paths:
        name = str(raw)
        path = Path(raw)
        try:
            size = path.stat().st_size
            if not path.is_file():
                parsed.append(_Parsed(name, issues=[_file_issue(name, "is not a file (a folder?)")]))
                continue
            if size > max_bytes:
                parsed.append(_Parsed(name, issues=[_too_big(name, size, max_bytes)]))
                continue
            data = path.read_bytes()
        except FileNotFoundError:
            parsed.append(_Parsed(name, issues=[_file_issue(name, "file not found")]))
            continue
        except OSError as exc:
            parsed.append(_Parsed(name, issues=[_file_issue(name, f"cannot be read: {exc.strerror or exc}")]))
            continue
        parsed.append(_parse_bytes(name, data, max_bytes))
    return _finish(parsed)


@paused_gc()
def import_records(
    records: Sequence[Any],
    source: str = "request",
    *,
    origins: Sequence[Origin] | None = None,
) -> ImportResult:
    """Validate dicts (from Python or REST callers, and from every file importer) and merge lifecycles.

    `origins` gives each record's (file, location); by default `source` and its JSON path `$[i]`.
    """
    sessions: list[ChatKitSession] = []
    kept_origins: list[Origin] = []
    errors: list[ImportIssue] = []
    for index, record in enumerate(records):
        origin = origins[index] if origins is not None else (source, f"$[{index}]")
        session = _validate_one(record, origin, errors)
        if session is not None:
            sessions.append(session)
            kept_origins.append(origin)
    merged, warnings = merge_lifecycle(sessions, kept_origins)
    last_origin = dict(zip((s.id for s in sessions), kept_origins, strict=True))
    for session in merged:
        file, location = last_origin[session.id]
        warnings.extend(
            ImportIssue(
                level=IssueLevel.warning,
                file=file,
                location=location,
                session_id=session.id,
                field=_config_field(text),
                message=text,
            )
            for text in session.config_warnings()
        )
    files = list(dict.fromkeys(file for file, _ in origins)) if origins is not None else [source]
    return ImportResult(
        sessions=merged, errors=errors, warnings=warnings, files=files, rows_read=len(records)
    )


def merge_lifecycle(
    sessions: Sequence[ChatKitSession], origins: Sequence[Origin] | None = None
) -> tuple[list[ChatKitSession], list[ImportIssue]]:
    """One session per id, in order of first appearance; the rule is in the module docstring.

    `origins` gives each session's (file, location) for `status_history` and conflict warnings.
    """
    if origins is None:
        origins = [("data set", f"record {i + 1}") for i in range(len(sessions))]
    groups: dict[str, list[int]] = {}
    for index, session in enumerate(sessions):
        groups.setdefault(session.id, []).append(index)
    out: list[ChatKitSession] = []
    issues: list[ImportIssue] = []
    for indexes in groups.values():
        members = [sessions[i] for i in indexes]
        member_origins = [origins[i] for i in indexes]
        if len(members) == 1:
            session = members[0]
            if session.status and not session.status_history:
                session = session.model_copy(
                    update={"status_history": [_observation(session, member_origins[0])]}
                )
            out.append(session)
        else:
            out.append(_merge_group(members, member_origins, issues))
    return out, issues


# ---------------------------------------------------------------------------------------------------
# Validation: the one path every record takes


def _validate_one(record: Any, origin: Origin, errors: list[ImportIssue]) -> ChatKitSession | None:
    file, location = origin

    def fail(message: str, field_name: str | None = None, session_id: str | None = None) -> None:
        errors.append(
            ImportIssue(
                file=file, location=location, session_id=session_id, field=field_name, message=message
            )
        )

    if isinstance(record, ChatKitSession):
        record = record.model_dump()
    if not isinstance(record, Mapping):
        fail(f"expected a session object, found {_kind(record)}")
        return None
    if "id" not in record and isinstance(record.get("session"), Mapping):
        record = record["session"]  # the seed's API wraps one session as {"session": {...}}
        if location.startswith("$"):
            location += ".session"
    session_id = _show_id(record.get("id"))
    if "id" not in record and "error" in record:
        fail(f"this is an API error response, not a session: {_error_message(record['error'])}")
        return None
    obj = record.get("object")
    if isinstance(obj, str) and obj.strip() and obj.strip() != _SESSION_OBJECT:
        fail(f"this is a '{_clip(obj)}' object, not a ChatKit session", "object", session_id)
        return None
    clean, problem = _clean(record)
    if problem is not None:
        fail(problem[1], problem[0], session_id)
        return None
    try:
        session = ChatKitSession.model_validate(clean, context=_STRIPPED)
    except ValidationError as exc:
        for field_name, message in _translate(exc, clean):
            fail(message, field_name, session_id)
        return None
    if session.status and not session.status_history:
        # Our own fresh object: set the first observation in place (no copy on the hot path).
        session.status_history = [_observation(session, origin)]
    return session


_STRIPPED = {"secrets_stripped": True}  # tells the model `_clean` already removed secrets


def _clean(record: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """One pass over a record: a copy without secret-like keys, and the first NaN/Infinity or
    nesting deeper than MAX_DEPTH as (field, message). Iterative, so depth never recurses.

    This runs once per imported record, so it tests exact types first (ABC checks are slow)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any, tuple[Any, ...]]] = [(record, root, ())]
    while stack:
        src, dst, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            where = _dotted(path[:3]) + "…"
            return root, (where, f"is nested more than {MAX_DEPTH} levels deep: not a session export")
        is_map = isinstance(dst, dict)
        for key, item in src.items() if is_map else enumerate(src):
            if is_map and type(key) is str and is_secret_key(key):
                continue
            kind = type(item)
            if kind is float:
                if not math.isfinite(item):
                    return root, (_dotted((*path, key)), _non_finite_message(item))
            elif (
                kind is dict or kind is list or (kind not in _SCALARS and isinstance(item, (Mapping, tuple)))
            ):
                copy: Any = {} if isinstance(item, Mapping) else []
                stack.append((item, copy, (*path, key)))
                item = copy
            if is_map:
                dst[key] = item
            else:
                dst.append(item)
    return root, None


_SCALARS = frozenset({str, int, bool, type(None)})


def _non_finite_message(value: float) -> str:
    token = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return f"is {token}, which is not a number; leave it empty (or null) when there is no value"


_UNION_TAGS = re.compile(
    r"^(str|int|float|bool|none|datetime|dict\[.*|list\[.*|constrained-.*|function-.*|lax-.*)$"
)


def _translate(exc: ValidationError, record: dict[str, Any]) -> list[tuple[str, str]]:
    """Pydantic's errors as (dotted field, plain message); union alternatives folded into one."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        grouped.setdefault(_field_path(error["loc"], record), []).append(error)
    out = []
    for field_name, errors in grouped.items():
        if len(errors) > 1 and len({e["type"] for e in errors}) > 1:
            value = _show(errors[0].get("input"))
            if field_name.split(".")[1:2] == ["state_variables"] or ".state_variables." in field_name:
                out.append((field_name, f"must be text, a number or true/false, got {value}"))
            else:
                out.append((field_name, f"has an unsupported value {value}"))
        else:
            out.append((field_name, _plain_message(errors[0], field_name)))
    return out


def _plain_message(error: dict[str, Any], field_name: str) -> str:
    kind = error["type"]
    value = _show(error.get("input"))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        if field_name == "id":
            return "has no 'id': every session needs its id (like cksess_…)"
        return "is required but missing"
    if kind == "value_error":
        message = str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
        raw = error.get("input")
        if isinstance(raw, str) and len(raw) > _ECHO_CHARS:
            message = message.replace(repr(raw), value)  # the model's messages quote the value in full
        return _clip(message, 4 * _ECHO_CHARS)
    if kind in ("greater_than_equal", "int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number ≥ 0, got {value}"
    if kind == "string_type":
        return f"must be text, got {value}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}, got {value}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {value}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be an object with named fields, got {value}"
    if kind == "list_type":
        return f"must be a list, got {value}"
    return f"{error['msg']}, got {value}"


def _field_path(loc: tuple[Any, ...], record: Any) -> str:
    """Pydantic's loc as a dotted path into the input, without union member tags like 'str'."""
    parts: list[Any] = []
    node = record
    for position, part in enumerate(loc):
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(part, str) and _UNION_TAGS.match(part) and position > 0:
            continue
        else:
            node = None
        parts.append(part)
    return _dotted(tuple(parts))


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _config_field(message: str) -> str | None:
    head = message.split(" ", 1)[0]
    return "ttl_seconds" if head == "ttl" else head if head in ChatKitSession.model_fields else None


# ---------------------------------------------------------------------------------------------------
# Lifecycle merge


def _observation(session: ChatKitSession, origin: Origin) -> StatusChange:
    observed = {
        "active": session.created_at,
        "cancelled": session.cancelled_at,
        "expired": session.expires_at,
    }.get(session.status or "")
    return StatusChange(status=session.status, observed_at=observed, source=f"{origin[0]}:{origin[1]}")


def _facts(session: ChatKitSession) -> Iterator[tuple[str, Any]]:
    """The values that must agree between records of one session (None = not known)."""
    yield "status", session.status if session.status in _TERMINAL else None
    yield "workflow.id", session.workflow.id if session.workflow else None
    yield "workflow.version", session.workflow.version if session.workflow else None
    yield "scope.customer_id", session.scope.customer_id if session.scope else None
    yield "user", session.user
    yield "created_at", session.created_at
    yield "cancelled_at", session.cancelled_at


def _merge_group(
    members: list[ChatKitSession], origins: list[Origin], issues: list[ImportIssue]
) -> ChatKitSession:
    merged: dict[str, Any] = {}
    history: list[StatusChange] = []
    seen: dict[str, tuple[Any, str]] = {}
    terminal: str | None = None
    other: str | None = None
    for session, origin in zip(members, origins, strict=True):
        source = f"{origin[0]}:{origin[1]}"
        for label, value in _facts(session):
            if value is None:
                continue
            previous = seen.get(label)
            if previous is not None and previous[0] != value:
                issues.append(
                    ImportIssue(
                        level=IssueLevel.warning,
                        file=origin[0],
                        location=origin[1],
                        session_id=session.id,
                        field=label,
                        message=(
                            f"conflicting records of one session: {_show(previous[0])} in {previous[1]} "
                            f"vs {_show(value)} in {source}; kept {_show(value)} (the later record wins)"
                        ),
                    )
                )
            seen[label] = (value, source)
        if session.status in _TERMINAL:
            terminal = session.status
        elif session.status:
            other = session.status
        _fill(merged, session.model_dump(exclude={"status_history"}))
        history.extend(session.status_history or ([_observation(session, origin)] if session.status else []))
    merged["status"] = terminal or other
    merged["status_history"] = _lifecycle_order(history)
    return ChatKitSession.model_validate(merged)


def _fill(target: dict[str, Any], newer: Mapping[str, Any]) -> None:
    """Later non-null values override; nested objects merge key by key (iterative)."""
    stack = [(target, newer)]
    while stack:
        dst, src = stack.pop()
        for key, value in src.items():
            if value is None:
                continue
            current = dst.get(key)
            if isinstance(value, Mapping) and isinstance(current, dict):
                stack.append((current, value))
            elif isinstance(value, Mapping):
                dst[key] = {}
                stack.append((dst[key], value))
            else:
                dst[key] = value


def _lifecycle_order(history: list[StatusChange]) -> list[StatusChange]:
    """Active observations first, then terminal ones (input order within each); repeats dropped."""
    ordered = sorted(history, key=lambda change: change.status in _TERMINAL)
    out: list[StatusChange] = []
    seen: set[tuple[Any, ...]] = set()
    for change in ordered:
        key = (change.status, change.observed_at, change.source)
        if key in seen:
            continue
        seen.add(key)
        if out and out[-1].status == change.status and out[-1].observed_at == change.observed_at:
            continue  # the same state seen again (a re-poll, the same file twice): one observation
        out.append(change)
    return out


# ---------------------------------------------------------------------------------------------------
# Files: bytes -> text -> records


@dataclass
class _Parsed:
    """What one file yields before validation."""

    name: str
    records: list[Any] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)
    rows: int = 0

    def add(self, record: Any, location: str) -> None:
        self.records.append(record)
        self.origins.append((self.name, location))

    def error(self, message: str, location: str = "whole file", level: IssueLevel = IssueLevel.error) -> None:
        self.issues.append(ImportIssue(level=level, file=self.name, location=location, message=message))

    def warn(self, message: str, location: str = "whole file") -> None:
        self.error(message, location, IssueLevel.warning)


def _finish(parsed: list[_Parsed]) -> ImportResult:
    records: list[Any] = []
    origins: list[Origin] = []
    for part in parsed:
        records.extend(part.records)
        origins.extend(part.origins)
        if not part.records and not part.issues:
            part.warn("the file holds no sessions")
    result = import_records(records, origins=origins)
    names = list(dict.fromkeys(part.name for part in parsed))
    issues = [issue for part in parsed for issue in part.issues]
    order = {name: index for index, name in enumerate(names)}
    result.errors = _sorted(result.errors + [i for i in issues if i.level == IssueLevel.error], order)
    result.warnings = _sorted(result.warnings + [i for i in issues if i.level == IssueLevel.warning], order)
    result.files = names
    result.rows_read = sum(part.rows for part in parsed)
    return result


def _sorted(issues: list[ImportIssue], order: dict[str, int]) -> list[ImportIssue]:
    def key(issue: ImportIssue) -> tuple[int, int]:
        number = re.search(r"\d+", issue.location)
        return order.get(issue.file, len(order)), int(number.group()) if number else -1

    return sorted(issues, key=key)


def _parse_bytes(name: str, data: bytes, max_bytes: int) -> _Parsed:
    if len(data) > max_bytes:
        return _Parsed(name, issues=[_too_big(name, len(data), max_bytes)])
    parsed = _Parsed(name)
    if not data.strip():
        parsed.error("the file is empty")
        return parsed
    for magic, what in _MAGIC:
        if data.startswith(magic):
            parsed.error(f"this is {what}; expected JSON, JSONL or CSV")
            return parsed
    text = _decode(data, parsed)
    if text is None:
        return parsed
    return _parse_text(name, text, parsed)


def _decode(data: bytes, parsed: _Parsed) -> str | None:
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                parsed.error(f"starts with a {label} marker but is not valid {label} (byte {exc.start})")
                return None
    head = data[:4096]
    # UTF-16 without a marker: every other byte of ASCII text is zero.
    if len(head) >= 4 and head[1::2].count(0) > len(head) * 0.4 and head[0::2].count(0) == 0:
        codec = "utf-16-le"
    elif len(head) >= 4 and head[0::2].count(0) > len(head) * 0.4 and head[1::2].count(0) == 0:
        codec = "utf-16-be"
    else:
        codec = "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        if codec != "utf-8" or _looks_binary(head):
            parsed.error("this is binary data, not text: expected JSON, JSONL or CSV")
            return None
        parsed.warn("the file is not UTF-8; it was read as Windows-1252 (check accented characters)")
        return data.decode("cp1252", errors="replace")
    if "\x00" in text:
        parsed.error("this is binary data, not text (it contains NUL bytes): expected JSON, JSONL or CSV")
        return None
    return text


def _looks_binary(sample: bytes) -> bool:
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    return b"\x00" in sample or controls > len(sample) * 0.02


def _parse_text(name: str, text: str, parsed: _Parsed | None = None) -> _Parsed:
    parsed = parsed or _Parsed(name)
    start = _LEADING_WS.match(text).end()  # type: ignore[union-attr]  # matches the empty string
    if start == len(text):
        parsed.error("the file is empty")
        return parsed
    if text.startswith("\ufeff"):
        text = text[1:]
        start -= 1
    first = text[start]
    if first in "[{" or text.startswith(("//", "/*"), start):
        if first == "{" and Path(name).suffix.lower() in (".jsonl", ".ndjson"):
            _parse_jsonl(text, parsed)
        else:
            _parse_json(text, start, parsed)
    else:
        _parse_csv(text, parsed)
    return parsed


def _parse_json(text: str, start: int, parsed: _Parsed) -> None:
    try:
        document = json.loads(text)
    except RecursionError:
        # One absurdly deep item must not cost its neighbours: read the list item by item.
        kept, deep = _salvage(text, start, parsed)
        if not deep:  # the depth is outside the list of sessions (or there is no list)
            read = f"; the {kept} session record(s) of its list were read" if kept else ""
            parsed.error(_too_deep_message() + read)
        return
    except json.JSONDecodeError as exc:
        if text[start] == "{" and (exc.msg.startswith("Extra data") or _looks_jsonl(text, start)):
            _parse_jsonl(text, parsed)
            return
        document = _lenient(text, parsed)
        if document is None:
            _report_bad_json(text, start, exc, parsed)
            return
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        parsed.error(f"cannot be read as JSON: {_clip(str(exc))}")
        return
    _take_document(document, parsed)


def _lenient(text: str, parsed: _Parsed) -> Any:
    """JSON with comments or trailing commas, read by json5; None when that fails too."""
    if len(text) > LENIENT_MAX_CHARS:
        return None
    try:
        document = json5.loads(text)
    except (ValueError, RecursionError):
        return None
    parsed.warn(
        "the file is not strict JSON (comments, trailing commas or similar); it was read leniently — "
        "check that nothing was commented out by mistake"
    )
    return document


def _report_bad_json(text: str, start: int, exc: json.JSONDecodeError, parsed: _Parsed) -> None:
    where = f"line {exc.lineno}, column {exc.colno}"
    salvaged, _ = _salvage(text, start, parsed)
    kept = f"; the {salvaged} complete session record(s) before it were read" if salvaged else ""
    if _cut_off(text, exc):
        body = text.rstrip()
        where = f"line {body.count(chr(10)) + 1}, column {len(body) - body.rfind(chr(10))}"
        parsed.error(
            f"the JSON is cut off: the file ends at {where} before the data is complete{kept}", where
        )
    else:
        parsed.error(f"not valid JSON at {where}: {exc.msg}{kept}", where)


def _cut_off(text: str, exc: json.JSONDecodeError) -> bool:
    """The error is the end of the data itself: a truncated file or line, not a typo in the middle."""
    if exc.msg.startswith("Unterminated string"):
        return '"' not in text[exc.pos + 1 :]
    return exc.pos >= len(text.rstrip())


def _salvage(text: str, start: int, parsed: _Parsed) -> tuple[int, int]:
    """From a list that cannot be read whole (top level, or under "sessions"/"data"), keep its complete
    items one by one, up to a break in the JSON; an item nested too deeply to read is a row error and
    the items after it are still read. Returns (items kept, items too deep)."""
    if text[start] == "[":
        position, prefix = start + 1, "$"
    else:
        match = _ENVELOPE_ARRAY.search(text, start)
        if match is None:
            return 0, 0
        position, prefix = match.end(), f"$.{match.group(1)}"
    decoder = json.JSONDecoder()
    kept = deep = index = 0
    while True:
        position = _LEADING_WS.match(text, position).end()  # type: ignore[union-attr]
        location = f"{prefix}[{index}]"
        try:
            item, position = decoder.raw_decode(text, position)
        except RecursionError:
            end = _value_end(text, position)
            if end is None:
                break
            parsed.error(_too_deep_message(), location)
            deep += 1
            position = end
        except ValueError:
            break
        else:
            parsed.add(item, location)
            kept += 1
        index += 1
        parsed.rows += 1
        position = _LEADING_WS.match(text, position).end()  # type: ignore[union-attr]
        if not text.startswith(",", position):
            break
        position += 1
    return kept, deep


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _value_end(text: str, position: int) -> int | None:
    """Where the JSON array or object at `position` ends, by counting brackets outside strings
    (iterative: the value is too deep for the recursive decoder); None when it never closes."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text, position):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
        elif bracket in ("]", "}"):
            depth -= 1
            if depth == 0:
                return token.end()
    return None


def _looks_jsonl(text: str, start: int) -> bool:
    lines = [line.strip() for line in text[start : start + 65536].split("\n")[:50]]
    lines = [line for line in lines if line]
    return len(lines) >= 2 and all(line.startswith(("{", "//", "#")) for line in lines)


def _take_document(document: Any, parsed: _Parsed) -> None:
    if isinstance(document, list):
        _take_items(document, "$", parsed)
        return
    if not isinstance(document, dict):
        parsed.error(f"the JSON holds {_kind(document)}, not sessions")
        return
    if "id" in document:
        parsed.rows += 1
        parsed.add(document, "$")
        return
    if "error" in document:
        parsed.error(f"this is an API error response, not sessions: {_error_message(document['error'])}")
        return
    for key in ("sessions", "data"):
        if isinstance(document.get(key), list):
            _take_items(document[key], f"$.{key}", parsed)
            return
    if isinstance(document.get("session"), dict):
        parsed.rows += 1
        parsed.add(document["session"], "$.session")
        return
    obj = document.get("object")
    if isinstance(obj, str) and obj and obj != _SESSION_OBJECT:
        parsed.error(f"this file holds a '{_clip(obj, 40)}' object, not sessions")
        return
    keys = ", ".join(_clip(str(k), 30) for k in list(document)[:8]) or "none"
    parsed.error(
        'no sessions found: expected a session (with an "id"), a list of sessions, '
        f'{{"sessions": [...]}} or an API list {{"object": "list", "data": [...]}}; found keys: {keys}'
    )


def _take_items(items: list[Any], prefix: str, parsed: _Parsed) -> None:
    objects = {item.get("object") for item in items if isinstance(item, dict)}
    if len(objects) == 1 and len(items) == sum(isinstance(i, dict) for i in items):
        (obj,) = objects
        if isinstance(obj, str) and obj and obj != _SESSION_OBJECT:
            parsed.rows += len(items)
            parsed.error(f"this file holds {_object_name(obj)}, not sessions")
            return
    parsed.rows += len(items)
    for index, item in enumerate(items):
        parsed.add(item, f"{prefix}[{index}]")


def _parse_jsonl(text: str, parsed: _Parsed) -> None:
    comments = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(("//", "#")):
            comments += 1
            continue
        parsed.rows += 1
        location = f"line {number}"
        try:
            record = json.loads(line)
        except RecursionError:
            parsed.error(_too_deep_message(), location)
            continue
        except json.JSONDecodeError as exc:
            if _cut_off(line, exc):
                parsed.error(f"this line's JSON is cut off (it ends at column {exc.colno})", location)
            else:
                parsed.error(f"not valid JSON at column {exc.colno}: {exc.msg}", location)
            continue
        except ValueError as exc:
            parsed.error(f"cannot be read as JSON: {_clip(str(exc))}", location)
            continue
        parsed.add(record, location)
    if comments:
        parsed.warn(f"{comments} comment line(s) skipped")


# ---------------------------------------------------------------------------------------------------
# CSV


@dataclass
class _Column:
    index: int
    name: str
    path: tuple[str, ...]
    text: bool  # keep the cell as text (ids, versions, free text)


def _parse_csv(text: str, parsed: _Parsed) -> None:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # a 2 MB cell is still a cell
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        parsed.error("the file is neither JSON nor a readable CSV")
        return
    columns = _plan_columns([cell.strip().lstrip("\ufeff") for cell in header], parsed)
    if columns is None:
        return
    width = len(header)
    row_number = 1
    try:
        for row in reader:
            row_number += 1
            if not row or all(not cell.strip() for cell in row):
                continue
            parsed.rows += 1
            location = f"row {row_number}"
            if len(row) != width:
                what = "more" if len(row) > width else "fewer"
                hint = " (an unquoted comma inside a value?)" if len(row) > width else ""
                parsed.error(
                    f"this row has {len(row)} cells but the header has {width} columns: {what} cells "
                    f"than columns{hint}; the row was skipped",
                    location,
                )
                continue
            record = _row_record(row, columns, parsed, location)
            if record is not None:
                parsed.add(record, location)
    except csv.Error as exc:
        parsed.error(f"the CSV cannot be read from here on: {_clip(str(exc))}", f"row {row_number + 1}")
    if parsed.rows == 0 and not parsed.issues:
        parsed.warn("the CSV has a header row but no data rows")


def _plan_columns(header: list[str], parsed: _Parsed) -> list[_Column] | None:
    names = [name.lower() for name in header]
    if "id" not in names and "session_id" not in names:
        if any(_looks_like_data(cell) for cell in header):
            parsed.error(
                "the CSV has no header row: its first line already holds data. Add a first line naming "
                "the columns, e.g. id,status,workflow.id,max_requests_per_1_minute,current_requests",
                "row 1",
            )
        else:
            shown = ", ".join(_clip(n, 30) for n in header[:8]) or "none"
            parsed.error(
                f"this is not JSON, and as CSV it has no 'id' column (columns found: {shown})", "row 1"
            )
        return None
    columns: list[_Column] = []
    taken: set[tuple[str, ...]] = set()
    dropped: list[str] = []
    for index, name in enumerate(header):
        lowered = name.lower()
        if index == 0 and lowered in _INDEX_HEADERS:
            continue  # the row index pandas' to_csv() writes first
        if lowered == "id" or (lowered == "session_id" and "id" not in names):
            path: tuple[str, ...] = ("id",)
        elif name in _SNAKE_COLUMNS:
            path = _SNAKE_COLUMNS[name]
        else:
            path = tuple(part.strip() for part in name.split("."))
        if any(is_secret_key(part) for part in path):
            dropped.append(name)
            continue
        if not name or any(not part for part in path):
            parsed.warn(f"column {index + 1} has no usable name and was ignored", "row 1")
            continue
        if path in taken:
            parsed.warn(f"column '{_clip(name, 40)}' appears twice; the first one is used", "row 1")
            continue
        taken.add(path)
        columns.append(_Column(index, name, path, path in _TEXT_PATHS))
    if dropped:
        parsed.warn(
            f"column(s) {', '.join(_clip(d, 40) for d in dropped)} dropped: secrets are never imported",
            "row 1",
        )
    return columns


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    return cell.startswith("cksess_") or cell in _TERMINAL or cell == "active" or bool(_INT.fullmatch(cell))


def _row_record(row: list[str], columns: list[_Column], parsed: _Parsed, location: str) -> dict | None:
    record: dict[str, Any] = {}
    for column in columns:
        cell = row[column.index]
        stripped = cell.strip()
        if not stripped:
            continue  # empty cell = absent value
        if stripped.lower() in _NON_FINITE:
            value: Any = float("nan")  # reported with its field by the validation step
        elif column.text:
            value = stripped
        else:
            value = _cell_value(stripped)
        node = record
        for key in column.path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                parsed.error(f"column '{_clip(column.name, 40)}' conflicts with column '{key}'", location)
                return None
            node = child
        leaf = column.path[-1]
        if isinstance(node.get(leaf), dict):
            parsed.error(f"column '{_clip(column.name, 40)}' conflicts with the '{leaf}.…' columns", location)
            return None
        node[leaf] = value
    return record


def _cell_value(cell: str) -> Any:
    """Restore what json_normalize().to_csv() wrote: True/False, 512.0 -> 512, lists/dicts as text."""
    if cell in _TRUE:
        return True
    if cell in _FALSE:
        return False
    if _INT.fullmatch(cell):
        return int(cell)
    if _FLOAT.fullmatch(cell):
        number = float(cell)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if cell[0] in "[{":
        for loader in (json.loads, ast.literal_eval):  # JSON, or the Python repr pandas writes
            try:
                value = loader(cell)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, (list, dict)):
                return value
    return cell


# ---------------------------------------------------------------------------------------------------
# Messages


def _too_big(name: str, size: int, max_bytes: int) -> ImportIssue:
    return _file_issue(
        name,
        f"the file is {_mb(size)}, over the {_mb(max_bytes)} limit; it was not read (split it, or raise the limit)",
    )


def _file_issue(name: str, message: str) -> ImportIssue:
    return ImportIssue(file=name, location="whole file", message=message)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def _too_deep_message() -> str:
    return "the JSON is nested too deeply (hundreds of levels): this is not a session export"


def _error_message(error: Any) -> str:
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("code") or error.get("type") or "no message"
        return _clip(str(message))
    return _clip(str(error))


def _object_name(obj: str) -> str:
    return _OBJECT_NAMES.get(obj) or f"'{_clip(obj, 40)}' objects"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({_clip(repr(value))})"
    if isinstance(value, str):
        return f"text ({_clip(repr(value))})"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "an object {…}"
    return f"a {type(value).__name__}"


def _show(value: Any) -> str:
    """A short, safe rendering of an offending value (secrets never reach here: they are stripped)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return _kind(value)
    if isinstance(value, str):
        return repr(_clip(value))
    return _clip(repr(value))


def _show_id(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return _clip(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _clip(text: str, limit: int = _ECHO_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
