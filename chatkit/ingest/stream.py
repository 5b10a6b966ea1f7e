"""Bytes → which reader, without decoding the whole file to one `str` (the columnar import, issue 9).

`decode` + `sniff` make the whole file one `str` (574 MB of JSONL at a million sessions, and again as
the list of its lines); the columnar readers read UTF-8 bytes block by block instead. `plain_utf8`
says when `decode` would hand back the bytes' own UTF-8 text without a word — the usual upload —
and then the readers take the bytes; any other file (UTF-16, Windows-1252, a ZIP, NUL bytes, ...)
takes `decode` as today, its text re-encoded. `sniff_head` and `is_jsonl` decide the format from the
file's first block, with today's rules (`sniff.sniff`, `columnar._is_jsonl`).
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass

import pyarrow as pa

from chatkit.ingest.decode import _BOMS, _MAGIC
from chatkit.ingest.sniff import LEADING_WS, Format, looks_jsonl

HEAD_BYTES = 256 * 1024  # the first block: the format is decided from it
_NOT_BLANK = re.compile(rb"[^ \t\n\r\x0b\x0c]")  # what `bytes.strip()` leaves
_JSON_WS = re.compile(r"[ \t\n\r]*")  # json's own whitespace (json.decoder.WHITESPACE)


def plain_utf8(data: bytes, max_bytes: int) -> bytes | None:
    """The file's UTF-8 bytes (a leading UTF-8 BOM dropped) when `decode` would return exactly their
    text with no issue; None when the file must take `decode`."""
    if len(data) > max_bytes or _NOT_BLANK.search(data) is None:
        return None
    if any(data.startswith(magic) for magic, _ in _MAGIC):
        return None
    body = data
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
    elif any(data.startswith(bom) for bom, _, _ in _BOMS):
        return None
    else:
        head = data[:4096]
        if len(head) >= 4 and (
            head[1::2].count(0) > len(head) * 0.4 or head[0::2].count(0) > len(head) * 0.4
        ):
            return None  # perhaps UTF-16 without a marker: `decode`'s own test decides
    if b"\x00" in body or not _valid_utf8(body):
        return None
    return body


def _valid_utf8(data: bytes) -> bool:
    """Arrow's UTF-8 check over the bytes in place (no copy, no `str`)."""
    offsets = pa.array([0, len(data)], type=pa.int64()).buffers()[1]
    array = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


@dataclass(frozen=True)
class Head:
    format: Format
    text: str  # the first block's text (a character cut at its end dropped)
    start: int  # where the data begins, as `Sniffed.start`
    whole: bool  # the head is the whole file


def sniff_head(data: bytes, name: str) -> Head | None:
    """`sniff.sniff` from the first block of plain UTF-8 bytes; None when the block does not decide
    (all whitespace), and the whole text must be sniffed."""
    whole = len(data) <= HEAD_BYTES
    text = data[:HEAD_BYTES].decode("utf-8", errors="ignore") if not whole else data.decode("utf-8")
    match = LEADING_WS.match(text)
    start = match.end() if match else 0
    if start == len(text):
        return None
    if text.startswith("\ufeff"):
        return None  # a BOM character left after a UTF-8 BOM: rare, today's path
    first = text[start]
    if first in "[{" or text.startswith(("//", "/*"), start):
        if first == "{" and name.lower().endswith((".jsonl", ".ndjson")):
            return Head("jsonl", text, start, whole)
        return Head("json", text, start, whole)
    return Head("csv", text, start, whole)


def is_jsonl(head: Head) -> bool | None:
    """`columnar._is_jsonl` decided from the head: True/False, or None when only the whole text can
    tell (then the caller asks `_is_jsonl`)."""
    if head.format == "jsonl":
        return True
    text, start = head.text, head.start
    if text[start] != "{":
        return False
    position = _JSON_WS.match(text).end()  # type: ignore[union-attr]  # matches the empty string
    try:
        _, end = json.JSONDecoder().raw_decode(text, position)
    except json.JSONDecodeError as exc:
        # An error well inside the head is the whole text's error too (not "Extra data").
        if exc.pos < len(text) - 1024 and not exc.msg.startswith("Unterminated"):
            return looks_jsonl(text, start)
        return None if not head.whole else looks_jsonl(text, start)
    except (ValueError, RecursionError):
        return None
    rest = _JSON_WS.match(text, end).end()  # type: ignore[union-attr]
    if rest < len(text):
        return True  # "Extra data": the first value ends before the text does
    return None if not head.whole else False
