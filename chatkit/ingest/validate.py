"""Record → `ChatKitSession`, or precise `ImportIssue`s: the one validation path every record takes.

Python and REST callers and every file reader end here. Secret-like keys are dropped in the same pass
that finds NaN/Infinity and absurd nesting; pydantic's errors are translated into one plain message
per field, naming the dotted path into the record (`workflow.state_variables.score`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from chatkit.domain.lifecycle import Origin, observation
from chatkit.domain.models import SESSION_OBJECT, ChatKitSession, ImportIssue
from chatkit.domain.secrets import is_secret_key, redact_value
from chatkit.ingest.messages import ECHO_CHARS, clip, error_message, kind, show, show_id

MAX_DEPTH = 64  # a session is 3-4 levels deep; anything far deeper is not an export


def validate_one(record: Any, origin: Origin, errors: list[ImportIssue]) -> ChatKitSession | None:
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
        fail(f"expected a session object, found {kind(record)}")
        return None
    if "id" not in record and isinstance(record.get("session"), Mapping):
        record = record["session"]  # the seed's API wraps one session as {"session": {...}}
        if location.startswith("$"):
            location += ".session"
    session_id = show_id(record.get("id"))
    if "id" not in record and "error" in record:
        fail(f"this is an API error response, not a session: {error_message(record['error'])}")
        return None
    obj = record.get("object")
    if isinstance(obj, str) and obj.strip() and obj.strip() != SESSION_OBJECT:
        fail(f"this is a '{clip(obj)}' object, not a ChatKit session", "object", session_id)
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
        session.status_history = [observation(session, origin)]
    return session


_STRIPPED = {"secrets_stripped": True}  # tells the model `_clean` already removed secrets


def _clean(record: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """One pass over a record: a copy without secret-like keys or key-like text, and the first NaN/Infinity or
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
            item_type = type(item)
            if item_type is str:
                item = redact_value(item)  # a reason or a state variable quoting a key
            elif item_type is float:
                if not math.isfinite(item):
                    return root, (_dotted((*path, key)), _non_finite_message(item))
            elif (
                item_type is dict
                or item_type is list
                or (item_type not in _SCALARS and isinstance(item, (Mapping, tuple)))
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
    grouped: dict[str, list[ErrorDetails]] = {}
    for error in exc.errors(include_url=False):
        grouped.setdefault(_field_path(error["loc"], record), []).append(error)
    out = []
    for field_name, errors in grouped.items():
        if len(errors) > 1 and len({e["type"] for e in errors}) > 1:
            value = show(errors[0].get("input"))
            if field_name.split(".")[1:2] == ["state_variables"] or ".state_variables." in field_name:
                out.append((field_name, f"must be text, a number or true/false, got {value}"))
            else:
                out.append((field_name, f"has an unsupported value {value}"))
        else:
            out.append((field_name, _plain_message(errors[0], field_name)))
    return out


def _plain_message(error: ErrorDetails, field_name: str) -> str:
    error_type = error["type"]
    value = show(error.get("input"))
    ctx = error.get("ctx") or {}
    if error_type == "missing":
        if field_name == "id":
            return "has no 'id': every session needs its id (like cksess_…)"
        return "is required but missing"
    if error_type == "value_error":
        message = str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
        raw = error.get("input")
        if isinstance(raw, str) and len(raw) > ECHO_CHARS:
            message = message.replace(repr(raw), value)  # the model's messages quote the value in full
        return clip(message, 4 * ECHO_CHARS)
    if error_type in ("greater_than_equal", "int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number ≥ 0, got {value}"
    if error_type == "string_type":
        return f"must be text, got {value}"
    if error_type == "string_too_short":
        return "must not be empty"
    if error_type == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if error_type == "literal_error":
        return f"must be one of {ctx.get('expected', '')}, got {value}"
    if error_type in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {value}"
    if error_type in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be an object with named fields, got {value}"
    if error_type == "list_type":
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


def config_field(message: str) -> str | None:
    head = message.split(" ", 1)[0]
    return "ttl_seconds" if head == "ttl" else head if head in ChatKitSession.model_fields else None
