"""Short, safe renderings of untrusted values for messages in plain words (pure).

Every message that quotes an input value goes through `show` or `kind`, so no message echoes a
megabyte of text; secrets never reach here (they are stripped before any value is quoted).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

ECHO_CHARS = 80  # the longest quote of an input value in a message


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind(value: Any) -> str:
    """What a value is, in words: "null", "a number (3)", "a list of 2 item(s)", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({clip(repr(value))})"
    if isinstance(value, str):
        return f"text ({clip(repr(value))})"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, Mapping):
        return "an object {…}"
    return f"a {type(value).__name__}"


def show(value: Any) -> str:
    """A short, safe rendering of an offending value (secrets never reach here: they are stripped)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return kind(value)
    if isinstance(value, str):
        return repr(clip(value))
    return clip(repr(value))
