"""Bytes → text: the size cap, known non-text files, BOMs, UTF-16 without a marker, binary data.

The first step of every file; it reads nothing but the bytes it is given, and says in words why a
file cannot be text (a ZIP, an image, a PDF, NUL bytes) instead of letting a parser fail on it.
"""

from __future__ import annotations

import codecs

from chatkit.ingest.messages import too_big
from chatkit.ingest.parsed import Parsed

DEFAULT_MAX_BYTES = 200 * 1024 * 1024

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


def decode(data: bytes, parsed: Parsed, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
    """The file's text, or None with the reason recorded in `parsed`."""
    if len(data) > max_bytes:
        parsed.issues.append(too_big(parsed.name, len(data), max_bytes))
        return None
    if not data.strip():
        parsed.error("the file is empty")
        return None
    for magic, what in _MAGIC:
        if data.startswith(magic):
            parsed.error(f"this is {what}; expected JSON, JSONL or CSV")
            return None
    return _text(data, parsed)


def _text(data: bytes, parsed: Parsed) -> str | None:
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
