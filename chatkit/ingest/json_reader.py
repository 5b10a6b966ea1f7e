"""JSON and JSONL → records: one session, lists, envelopes, lenient JSON, and salvage of broken files.

Accepted: one session, `{"session": {...}}`, a list, `{"sessions": [...]}`, or an API list response
`{"object": "list", "data": [...]}`; comments and trailing commas (read by json5, with a warning);
JSONL with blank lines and `//` or `#` comment lines skipped. A file that cannot be read whole keeps
what it can: the complete items of its list before a break, and every item but one nested too deeply.
"""

from __future__ import annotations

import json
import re
from typing import Any

import json5

from chatkit.domain.models import SESSION_OBJECT
from chatkit.ingest.messages import clip, error_message, kind, object_name, too_deep_message
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.sniff import LEADING_WS, looks_jsonl

LENIENT_MAX_CHARS = 5 * 1024 * 1024  # json5 is pure Python: only small files get the lenient parser
_ENVELOPE_ARRAY = re.compile(r'"(sessions|data)"\s*:\s*\[')


def _skip_ws(text: str, position: int) -> int:
    match = LEADING_WS.match(text, position)
    return match.end() if match else position


def parse_json(text: str, start: int, parsed: Parsed) -> None:
    try:
        document = json.loads(text)
    except RecursionError:
        # One absurdly deep item must not cost its neighbours: read the list item by item.
        kept, deep = _salvage(text, start, parsed)
        if not deep:  # the depth is outside the list of sessions (or there is no list)
            read = f"; the {kept} session record(s) of its list were read" if kept else ""
            parsed.error(too_deep_message() + read)
        return
    except json.JSONDecodeError as exc:
        if text[start] == "{" and (exc.msg.startswith("Extra data") or looks_jsonl(text, start)):
            parse_jsonl(text, parsed)
            return
        document = _lenient(text, parsed)
        if document is None:
            _report_bad_json(text, start, exc, parsed)
            return
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        parsed.error(f"cannot be read as JSON: {clip(str(exc))}")
        return
    _take_document(document, parsed)


def _lenient(text: str, parsed: Parsed) -> Any:
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


def _report_bad_json(text: str, start: int, exc: json.JSONDecodeError, parsed: Parsed) -> None:
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


def _salvage(text: str, start: int, parsed: Parsed) -> tuple[int, int]:
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
        position = _skip_ws(text, position)
        location = f"{prefix}[{index}]"
        try:
            item, position = decoder.raw_decode(text, position)
        except RecursionError:
            end = _value_end(text, position)
            if end is None:
                break
            parsed.error(too_deep_message(), location)
            deep += 1
            position = end
        except ValueError:
            break
        else:
            parsed.add(item, location)
            kept += 1
        index += 1
        parsed.rows += 1
        position = _skip_ws(text, position)
        if not text.startswith(",", position):
            break
        position += 1
    return kept, deep


# A string token runs to its closing quote or, unterminated, to the end of the text: were the closing
# quote required, every escaped quote of an unterminated string would start a new scan to the end
# (quadratic). The unrolled loop has no nested alternation to backtrack through.
_JSON_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\Z)|[\[\]{}]', re.S)


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


def _take_document(document: Any, parsed: Parsed) -> None:
    if isinstance(document, list):
        _take_items(document, "$", parsed)
        return
    if not isinstance(document, dict):
        parsed.error(f"the JSON holds {kind(document)}, not sessions")
        return
    if "id" in document:
        parsed.rows += 1
        parsed.add(document, "$")
        return
    if "error" in document:
        parsed.error(f"this is an API error response, not sessions: {error_message(document['error'])}")
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
    if isinstance(obj, str) and obj and obj != SESSION_OBJECT:
        parsed.error(f"this file holds a '{clip(obj, 40)}' object, not sessions")
        return
    keys = ", ".join(clip(str(k), 30) for k in list(document)[:8]) or "none"
    parsed.error(
        'no sessions found: expected a session (with an "id"), a list of sessions, '
        f'{{"sessions": [...]}} or an API list {{"object": "list", "data": [...]}}; found keys: {keys}'
    )


def _take_items(items: list[Any], prefix: str, parsed: Parsed) -> None:
    objects = {item.get("object") for item in items if isinstance(item, dict)}
    if len(objects) == 1 and len(items) == sum(isinstance(i, dict) for i in items):
        (obj,) = objects
        if isinstance(obj, str) and obj and obj != SESSION_OBJECT:
            parsed.rows += len(items)
            parsed.error(f"this file holds {object_name(obj)}, not sessions")
            return
    parsed.rows += len(items)
    for index, item in enumerate(items):
        parsed.add(item, f"{prefix}[{index}]")


def parse_jsonl(text: str, parsed: Parsed) -> None:
    comments = 0
    for number, line in enumerate(text.split("\n"), start=1):
        comments += parse_jsonl_line(line, number, parsed)
    if comments:
        jsonl_comments(comments, parsed)


def parse_jsonl_line(line: str, number: int, parsed: Parsed, location: str | None = None) -> int:
    """One JSONL line (or, with its `location`, one item of a JSON list): its record to the sink, or
    its error; 1 for a comment line (else 0)."""
    line = line.strip()
    if not line:
        return 0
    if line.startswith(("//", "#")):
        return 1
    parsed.rows += 1
    location = location or f"line {number}"
    try:
        record = json.loads(line)
    except RecursionError:
        parsed.error(too_deep_message(), location)
        return 0
    except json.JSONDecodeError as exc:
        if _cut_off(line, exc):
            parsed.error(f"this line's JSON is cut off (it ends at column {exc.colno})", location)
        else:
            parsed.error(f"not valid JSON at column {exc.colno}: {exc.msg}", location)
        return 0
    except ValueError as exc:
        parsed.error(f"cannot be read as JSON: {clip(str(exc))}", location)
        return 0
    parsed.add(record, location)
    return 0


def jsonl_comments(comments: int, parsed: Parsed) -> None:
    parsed.warn(f"{comments} comment line(s) skipped")
