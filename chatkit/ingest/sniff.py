"""Text → which reader: JSON, JSONL or CSV, decided from the content (the file name is only a hint)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chatkit.ingest.parsed import Parsed

Format = Literal["json", "jsonl", "csv"]

LEADING_WS = re.compile(r"[\s\ufeff]*")  # matches the empty string too: `.match()` never fails


@dataclass(frozen=True)
class Sniffed:
    format: Format
    text: str  # without a leading BOM character
    start: int  # where the data begins after leading whitespace


def sniff(text: str, parsed: Parsed) -> Sniffed | None:
    """The reader for `text`, or None (recorded in `parsed`) when there is nothing to read."""
    start = _leading_ws_end(text, 0)
    if start == len(text):
        parsed.error("the file is empty")
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
        start -= 1
    first = text[start]
    if first in "[{" or text.startswith(("//", "/*"), start):
        if first == "{" and Path(parsed.name).suffix.lower() in (".jsonl", ".ndjson"):
            return Sniffed("jsonl", text, start)
        return Sniffed("json", text, start)
    return Sniffed("csv", text, start)


def looks_jsonl(text: str, start: int) -> bool:
    """Two or more non-blank lines, each an object or a comment (the first 50 lines decide)."""
    lines = [line.strip() for line in text[start : start + 65536].split("\n")[:50]]
    lines = [line for line in lines if line]
    return len(lines) >= 2 and all(line.startswith(("{", "//", "#")) for line in lines)


def _leading_ws_end(text: str, position: int) -> int:
    match = LEADING_WS.match(text, position)
    return match.end() if match else position
