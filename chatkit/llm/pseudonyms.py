"""Pseudonyms for customer and user ids: keyed, stable within a data set, reversible for display.

The LLM sees `cust_1a2b3c4d` instead of a real customer id; the report shown to a person gets the real
id back. The key is an HMAC of a per-analyzer secret and the data set's session ids, so pseudonyms
are unguessable outside one analysis run.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from markdown_it import MarkdownIt

from chatkit.domain.models import ChatKitSession, ReportBody
from chatkit.domain.text import plain_text

__all__ = ["Pseudonymizer", "dataset_key", "dataset_key_of_sorted", "map_strings"]


class Pseudonymizer:
    """Keyed, stable pseudonyms for customer and user ids, and their reversal for display."""

    _PREFIX: ClassVar[dict[str, str]] = {"customer": "cust", "user": "user"}

    def __init__(self, key: bytes, *, enabled: bool = True) -> None:
        self._key = key
        self.enabled = enabled
        self._reverse: dict[str, str] = {}
        self._forward: dict[str, str] = {}

    def pseudonym(self, value: str | None, kind: str = "customer") -> str | None:
        if value is None or not self.enabled:
            return value
        if value not in self._forward:
            digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:8]
            alias = f"{self._PREFIX.get(kind, kind)}_{digest}"
            self._forward[value] = alias
            self._reverse[alias] = value
        return self._forward[value]

    def scrub(self, text: str) -> str:
        """Replace every known real id inside free text (a reason may quote the customer)."""
        if not self.enabled:
            return text
        for value in sorted(self._forward, key=len, reverse=True):
            if len(value) >= 3:
                text = text.replace(value, self._forward[value])
        return text

    def restore(self, text: str) -> str:
        if not self.enabled or not self._reverse:
            return text
        return _PSEUDONYM.sub(lambda m: self._reverse.get(m.group(0), m.group(0)), text)

    def restore_body(self, body: ReportBody) -> ReportBody:
        """The report with real ids back, field by field and in plain text only: a pseudonym inside a
        URL the model built, or inside inline code or a code block (which a reader copies into a
        command or a query), stays a pseudonym, so neither can carry the real customer id anywhere."""
        data = body.model_dump(mode="json")
        return ReportBody.model_validate(map_strings(data, self._restore_markdown))

    def _restore_markdown(self, text: str) -> str:
        cleaned = plain_text(text)  # control, zero-width and bidi characters dropped, nothing restored
        if not self.enabled or not self._reverse:
            return cleaned
        plain = _in_plain_text(cleaned)
        if plain is None:  # the parse and the text disagree (escapes, reference links): restore nothing
            return cleaned
        where = iter(plain)
        return _PSEUDONYM.sub(lambda m: self.restore(m.group(0)) if next(where) else m.group(0), cleaned)


_PSEUDONYM = re.compile(r"\b(?:cust|user)_[0-9a-f]{8}\b")
_MARK = "\x00"
# The renderer's parser (chatkit.domain.text), so "code" and "URL" mean here what they mean on screen.
_PARSER = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable(["table", "strikethrough"])


def _in_plain_text(text: str) -> list[bool] | None:
    """For each pseudonym in `text`, in order: whether it stands in plain text (True) rather than in
    code, a link's URL or a URL-like word (False); None when the syntax tree's pseudonyms do not line up
    one to one with the text's, so the caller cannot tell which is which."""
    env: dict[str, Any] = {}
    flags: list[bool] = []

    def code(content: str) -> None:
        flags.extend(False for _ in _PSEUDONYM.finditer(content))

    def words(content: str) -> None:
        # plain_text restores outside URL-like words only; the words it would restore get a mark
        marked = plain_text(content, restore=lambda w: _PSEUDONYM.sub(lambda m: _MARK + m.group(0), w))
        flags.extend(
            m.group(1) is not None
            for m in re.finditer(rf"{_MARK}({_PSEUDONYM.pattern})|{_PSEUDONYM.pattern}", marked)
        )

    for token in _PARSER.parse(text, env):
        if token.type in {"fence", "code_block", "html_block"}:
            code(token.content)
        elif token.type == "inline":
            hrefs: list[str] = []  # a link's URL follows its text in the source
            autolink = 0
            for child in token.children or []:
                if child.type == "link_open":
                    # an autolink's URL is its text, which counts below: in the source it stands once
                    attrs = {"title"} if child.markup == "autolink" else {"href", "title"}
                    hrefs.append(" ".join(str(v) for k, v in child.attrs.items() if k in attrs))
                    autolink += child.markup == "autolink"
                elif child.type == "link_close":
                    code(hrefs.pop() if hrefs else "")
                    autolink -= child.markup == "autolink"
                elif child.type == "image":
                    words(child.content)  # the alt text, shown as text
                    code(" ".join(str(v) for k, v in child.attrs.items() if k in {"src", "title"}))
                elif child.type in {"code_inline", "html_inline"} or autolink:
                    code(child.content)
                elif child.type == "text":
                    words(child.content)
    if any(_PSEUDONYM.search(str(ref)) for ref in env.get("references", {}).values()):
        return None  # a reference definition's URL is elsewhere in the text than the link using it
    return flags if len(flags) == len(_PSEUDONYM.findall(text)) else None


def dataset_key(secret: bytes, sessions: Sequence[ChatKitSession]) -> bytes:
    """The HMAC key for one data set: stable for the same sessions, unguessable without `secret`."""
    return dataset_key_of_sorted(secret, sorted(s.id for s in sessions))


def dataset_key_of_sorted(secret: bytes, ids: Iterable[str]) -> bytes:
    """`dataset_key` from the sorted session ids, read once (a million ids need not be one list)."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    for index, session_id in enumerate(ids):
        mac.update(session_id.encode() if index == 0 else b"\n" + session_id.encode())
    return mac.digest()


def map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    return value
