"""A JSON document's list of sessions, streamed: `[...]`, `{"data": [...]}` or `{"sessions": [...]}`
read item by item from the bytes, never the whole file as one `str` or one Python list.

A window of the bytes (`WINDOW_BYTES`, grown when one item is larger) is decoded and scanned with
`json.JSONDecoder.raw_decode`, which finds where each item ends; the item's bytes then take the
columnar JSON reader (`jsonl_columns.Reader`: msgspec for plain records, today's validation for the
rest) at today's location, `$[4]` or `$.data[4]`. Anything this reader does not follow exactly the
way `json_reader.parse_json` would — a JSON error (today salvages and words it), an item too deep, a
repeated or telling key (`id`, `error`, a `sessions` list beside `data`), trailing data, a list of
some other object — returns None, and the caller hands the file to today's importer whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chatkit.domain.models import SESSION_OBJECT
from chatkit.ingest.columnar import ColumnarImport
from chatkit.ingest.jsonl_columns import Reader
from chatkit.ingest.parsed import Parsed

STREAM_MIN_BYTES = 8 << 20  # smaller documents take today's importer whole: it is quick for them
WINDOW_BYTES = 8 << 20
ITEMS_PER_BLOCK = 20_000  # items handed to the reader at a time
_WS = re.compile(r"[ \t\n\r]*")  # json's own whitespace
_DECODER = json.JSONDecoder()


class _NotFollowed(Exception):
    """The document takes today's importer whole."""


def read_json_list(name: str, data: bytes, parsed: Parsed) -> ColumnarImport | None:
    """The document's list read in a stream, or None when today's importer must read it whole."""
    try:
        return _Stream(name, data, parsed).read()
    except (_NotFollowed, RecursionError, ValueError):
        return None


class _Stream:
    def __init__(self, name: str, data: bytes, parsed: Parsed) -> None:
        self.name, self.data, self.parsed = name, data, parsed
        self.base = 0  # byte offset of the window
        self.text = ""  # the window, decoded
        self.pos = 0  # position in the window's text
        self.window = WINDOW_BYTES
        self.load(0)

    def load(self, byte_offset: int) -> None:
        """A window starting at `byte_offset`, cut before a character that would be split."""
        end = min(len(self.data), byte_offset + self.window)
        while end < len(self.data) and (self.data[end] & 0xC0) == 0x80:
            end -= 1  # a UTF-8 continuation byte: the character starts before
        self.base, self.text, self.pos = byte_offset, self.data[byte_offset:end].decode("utf-8"), 0
        self.at_end = end == len(self.data)

    def byte_offset(self, pos: int) -> int:
        return self.base + len(self.text[:pos].encode("utf-8"))

    def skip_ws(self) -> None:
        while True:
            self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text) or self.at_end:
                return
            self.load(self.byte_offset(self.pos))

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value(self) -> tuple[Any, str]:
        """The next JSON value and its text; the window moves on (and grows) to hold a long one."""
        while True:
            self.skip_ws()
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                if self.at_end:
                    raise _NotFollowed from None  # a real error: today's salvage words it
                # The value runs past the window: start the window at it, twice as large if needed.
                start = self.byte_offset(self.pos)
                if start == self.base:
                    self.window *= 2
                self.load(start)
                continue
            if end == len(self.text) and not self.at_end:
                # A number may go on past the window ("12" of "123"): read it again from its start.
                start = self.byte_offset(self.pos)
                if start == self.base:
                    self.window *= 2
                self.load(start)
                continue
            text = self.text[self.pos : end]
            self.pos = end
            return value, text

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _NotFollowed
        self.pos += 1

    # ---- the document -----------------------------------------------------------------------------
    def read(self) -> ColumnarImport:
        if self.peek() not in ("[", "{"):
            raise _NotFollowed  # leading text json.loads would refuse
        reader = self.items("$[{}]") if self.peek() == "[" else self.envelope()
        self.skip_ws()
        if self.pos < len(self.text):
            raise _NotFollowed  # "Extra data": perhaps JSONL after all
        if reader.parsed.added == 0 and not reader.parsed.issues:
            raise _NotFollowed  # an empty list: today's words
        return reader.finish()

    def envelope(self) -> Reader:
        """`{"object": "list", "data": [...], ...}`: the small values read, the list streamed."""
        self.expect("{")
        keys: dict[str, Any] = {}
        reader: Reader | None = None
        while self.peek() != "}":
            if keys or reader is not None:
                self.expect(",")
            key, _ = self.value()
            if type(key) is not str or key in keys:
                raise _NotFollowed
            self.expect(":")
            if key in ("sessions", "data") and reader is None and self.peek() == "[":
                reader = self.items(f"$.{key}[{{}}]")
                keys[key] = []
                continue
            keys[key], _ = self.value()
        self.pos += 1
        if reader is None or "id" in keys or "error" in keys:
            raise _NotFollowed
        if "$.data" in reader.where and isinstance(keys.get("sessions"), list):
            raise _NotFollowed  # `sessions` is the list today's reader takes
        return reader

    def items(self, where: str) -> Reader:
        self.expect("[")
        reader = Reader(self.name, self.parsed, where, "json")
        block: list[bytes] = []
        first = index = 0
        objects: set[Any] = set()
        all_dicts = True
        while self.peek() != "]":
            if index:
                self.expect(",")
            value, text = self.value()
            if type(value) is dict:
                objects.add(value.get("object") if type(value.get("object")) is str else None)
            else:
                all_dicts = False
            block.append(text.encode("utf-8"))
            index += 1
            if len(block) >= ITEMS_PER_BLOCK:
                reader.block(block, first)
                first, block = index, []
        self.pos += 1
        if all_dicts and len(objects) == 1:
            (obj,) = objects
            if obj and obj != SESSION_OBJECT:
                raise _NotFollowed  # "this file holds threads, not sessions": today's words
        reader.block(block, first)
        return reader
