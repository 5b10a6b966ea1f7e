"""The API's bridge from its request handlers to the analyzer's coroutines.

Stays until the analyzer runs on `chatkit.llm`'s process-wide runtime, which makes it redundant.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from chatkit.reports.analyzer import ChatKitAnalyzer

T = TypeVar("T")


class AnalyzerLoop:
    """One event loop in a daemon thread runs every analyzer coroutine.

    Their CPU parts (diagnosis, what-if quotes, offline reports) stay off the server's loop, which
    keeps answering; and LLM calls still share one HTTP client and one requests-per-minute budget,
    which a fresh loop per request (the analyzer's sync methods) would not. Started on first use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="chatkit-api-analyzer", daemon=True
                )
                self._thread.start()
            return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the analyzer loop; cancelling the caller cancels it there too."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._running()))

    def close(self, analyzer: ChatKitAnalyzer) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        if analyzer.llm is not None:  # its HTTP client belongs to this loop
            asyncio.run_coroutine_threadsafe(analyzer.llm.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
