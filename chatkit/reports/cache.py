"""The analysis cache: its interface (the Store implements it), an in-memory one, and the key rule."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

from chatkit.llm.pseudonyms import Pseudonymizer

__all__ = ["AnalysisCache", "MemoryCache", "ReportStore", "messages_key"]


class AnalysisCache(Protocol):
    def get_analysis(self, key: str) -> dict | None: ...

    def put_analysis(
        self, key: str, session_id: str, provider: str, model: str, report: dict, usage: dict
    ) -> None: ...


class ReportStore(AnalysisCache, Protocol):
    """What the analyzer needs of a store (chatkit.store.Store is one): the cache, audit rows, its URL."""

    url: str

    def audit(
        self,
        actor: str,
        action: str,
        *,
        session_ids: Sequence[str] = (),
        provider: str = "",
        model: str = "",
        tokens: int = 0,
        outcome: str = "ok",
        detail: str = "",
    ) -> None: ...


class MemoryCache:
    """The Store's two cache methods over a dict: the cache when no store is given."""

    def __init__(self) -> None:
        self._rows: dict[str, dict] = {}
        self._lock = threading.Lock()

    def get_analysis(self, key: str) -> dict | None:
        with self._lock:
            row = self._rows.get(key)
        return json.loads(json.dumps(row)) if row is not None else None  # callers may mutate it

    def put_analysis(
        self, key: str, session_id: str, provider: str, model: str, report: dict, usage: dict
    ) -> None:
        with self._lock:
            self._rows[key] = report

    def __len__(self) -> int:
        return len(self._rows)


# The per-request delimiter of the data block (chatkit.llm.prompts.new_nonce).
_NONCE = re.compile(r"DATA-[0-9a-f]{16}")


def messages_key(messages: Sequence[Mapping[str, str]], pseudo: Pseudonymizer, *parts: str) -> str:
    """The cache key of one prompt: the exact messages, with pseudonyms mapped back to their ids.

    Pseudonyms are keyed by a per-analyzer secret, so the raw messages would differ between two
    processes (or a session alone and inside a batch) for the same question; the ids they stand for
    do not. The data block's per-request delimiter is normalized the same way.
    `status_history[].source` (which file and row) never reaches the prompt, so it is not in the key.
    """
    canonical = pseudo.restore(json.dumps(list(messages), sort_keys=True, ensure_ascii=False))
    canonical = _NONCE.sub("DATA-nonce", canonical)
    return hashlib.sha256("\n".join([canonical, *parts]).encode()).hexdigest()
