"""Pseudonyms for customer and user ids: keyed, stable within a data set, reversible for display.

The LLM sees `cust_1a2b3c4d` instead of a real customer id; the report shown to a person gets the real
id back. The key is an HMAC of a per-analyzer secret and the data set's session ids, so pseudonyms
are unguessable outside one analysis run.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from chatkit.domain.models import ChatKitSession, ReportBody
from chatkit.domain.text import plain_text

__all__ = ["Pseudonymizer", "dataset_key", "map_strings"]


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
        return re.sub(
            r"\b(?:cust|user)_[0-9a-f]{8}\b", lambda m: self._reverse.get(m.group(0), m.group(0)), text
        )

    def restore_body(self, body: ReportBody) -> ReportBody:
        """The report with real ids back, field by field and in plain text only: a pseudonym inside a
        URL the model built stays a pseudonym, so a link cannot carry the real customer id anywhere."""
        data = body.model_dump(mode="json")
        return ReportBody.model_validate(map_strings(data, lambda s: plain_text(s, restore=self.restore)))


def dataset_key(secret: bytes, sessions: Sequence[ChatKitSession]) -> bytes:
    """The HMAC key for one data set: stable for the same sessions, unguessable without `secret`."""
    ids = "\n".join(sorted(s.id for s in sessions))
    return hmac.new(secret, ids.encode(), hashlib.sha256).digest()


def map_strings(value: Any, fn: Any) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    return value
