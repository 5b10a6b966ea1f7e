"""The import's wording: file-level problems and the short renderings every message uses.

Messages name the file and the place, in words a support person understands, and never quote more
than a short clip of the input (`chatkit.domain.wording`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatkit.domain.models import ImportIssue
from chatkit.domain.wording import ECHO_CHARS, clip, kind, show

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


def too_big(name: str, size: int, max_bytes: int) -> ImportIssue:
    return file_issue(
        name,
        f"the file is {mb(size)}, over the {mb(max_bytes)} limit; it was not read (split it, or raise the limit)",
    )


def over_total(name: str, max_total_bytes: int) -> ImportIssue:
    return file_issue(
        name,
        f"the files of this import are over the {mb(max_total_bytes)} total limit (CHATKIT_MAX_IMPORT_MB) "
        "from this file on; it was not read (import the rest separately, or raise the limit)",
    )


def file_issue(name: str, message: str) -> ImportIssue:
    return ImportIssue(file=name, location="whole file", message=message)


def mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"


def too_deep_message() -> str:
    return "the JSON is nested too deeply (hundreds of levels): this is not a session export"


def error_message(error: Any) -> str:
    """The message of an API error body (`{"error": {...}}`), clipped."""
    if isinstance(error, Mapping):
        message = error.get("message") or error.get("code") or error.get("type") or "no message"
        return clip(str(message))
    return clip(str(error))


def object_name(obj: str) -> str:
    return _OBJECT_NAMES.get(obj) or f"'{clip(obj, 40)}' objects"


def show_id(value: Any) -> str | None:
    """A session id fit to name in a message, or None when the record has no usable one."""
    if isinstance(value, str) and value.strip():
        return clip(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


__all__ = [
    "ECHO_CHARS",
    "clip",
    "error_message",
    "file_issue",
    "kind",
    "mb",
    "object_name",
    "show",
    "show_id",
    "too_big",
    "too_deep_message",
]
