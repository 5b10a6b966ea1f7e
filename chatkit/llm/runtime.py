"""One LLM runtime per process: one event loop, one concurrency cap and one request budget per endpoint.

Every sync caller in a process (the dashboard's script threads, the batch worker, the CLI, the API's
thread pool) submits its coroutine to the same long-lived loop in a daemon thread, created lazily on
first use. Each endpoint gets one `RateGate` there: `LLM_CONCURRENCY` requests in flight at most, and
`LLM_REQUESTS_PER_MINUTE` requests per `LLM_RATE_WINDOW_S`. A fresh loop and limiter per call (what
the analyzer did before) let every caller spend the whole budget on its own.

Processes that share one store (the dashboard, `chatkit worker` and the API on one database) share the
budget through it: pyrate-limiter's SQLite bucket (made atomic across processes by the database's
write lock, `_SQLiteWriteLock`) or its PostgreSQL bucket (a table lock). Without a store the budget
lives in memory. The bucket's SQL runs in a worker thread, never on the loop: a busy database must
not stall the requests already in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import hashlib
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from pyrate_limiter import AbstractBucket, InMemoryBucket, Limiter, Rate
from pyrate_limiter.limiter import SingleBucketFactory

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["LLMRuntime", "RateGate", "get_runtime", "make_limiter"]


# Tokens are spaced this much more than the window apart: a request can take a moment from its token
# to the server (a client's first connection, a busy machine), and two windows' worth of requests
# must not meet at the server inside one window.
SEND_MARGIN_S = 0.5


def _table_for(endpoint: str) -> str:
    """One bucket table per endpoint: the budget is the provider's, whatever model is asked."""
    return "chatkit_llm_rate_" + hashlib.sha256(endpoint.encode()).hexdigest()[:12]


def make_limiter(
    requests: int, window_s: float, *, store_url: str | None = None, endpoint: str = ""
) -> tuple[Limiter, bool]:
    """A limiter of `requests` per `window_s`, and whether acquiring it does blocking I/O.

    `store_url` (a SQLAlchemy URL) puts the bucket in that database so every process on it shares it.
    """
    rates = [Rate(requests, max(1, round((window_s + SEND_MARGIN_S) * 1000)))]
    if store_url is None:
        return Limiter(InMemoryBucket(rates)), False
    from sqlalchemy.engine import make_url

    url = make_url(store_url)
    backend = url.get_backend_name()
    table = _table_for(endpoint)
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        from pyrate_limiter import SQLiteBucket, SQLiteQueries

        conn = sqlite3.connect(url.database, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute(SQLiteQueries.CREATE_BUCKET_TABLE.format(table=table))
        conn.execute(
            SQLiteQueries.CREATE_INDEX_ON_TIMESTAMP.format(index_name=f"idx_{table}_ts", table_name=table)
        )
        return _sql_limiter(SQLiteBucket(rates, conn, table, lock=_SQLiteWriteLock(conn))), True
    if backend == "postgresql":
        from psycopg_pool import ConnectionPool
        from pyrate_limiter import PostgresBucket

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = ConnectionPool(conninfo, min_size=1, max_size=2, open=True, name="chatkit-llm-rate")
        return _sql_limiter(PostgresBucket(pool, table, rates)), True
    log.info("store %s cannot hold the LLM rate budget; keeping it per process", backend)
    return Limiter(InMemoryBucket(rates)), False


class _SQLiteWriteLock:
    """The bucket's lock as SQLite's write lock, so count-then-insert is atomic across processes.

    pyrate-limiter's SQLite bucket counts, then inserts; with only a thread lock two processes could
    both count k-1 and both insert. `BEGIN IMMEDIATE` takes the database's write lock (waiting up to
    the connection's busy timeout), and the bucket's own commit or our release ends it. Reentrant:
    the limiter holds this lock around `bucket.put`, which takes it again.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._thread_lock = threading.RLock()
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._thread_lock.acquire(blocking, timeout if blocking else -1):
            return False
        if self._depth == 0:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # still locked after the busy timeout
                self._thread_lock.release()
                return False
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._conn.in_transaction:
            self._conn.execute("COMMIT")
        self._thread_lock.release()

    def __enter__(self) -> _SQLiteWriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _sql_limiter(bucket: AbstractBucket) -> Limiter:
    """No background leaker thread for a database bucket: it would outlive the store (and a test's
    schema). `RateGate` leaks old rows itself, in the thread that acquires."""
    return Limiter(SingleBucketFactory(bucket, schedule_leak=False))


LEAK_EVERY = 20  # acquisitions between two clean-ups of a database bucket's old rows


@dataclass
class _LoopState:
    semaphore: asyncio.Semaphore | None
    waiting: asyncio.Lock


class RateGate:
    """`async with gate.slot():` around each call, and `await gate.acquire()` as each request leaves.

    The provider takes the token in its HTTP client's request hook, after the client's own
    preparation (the first request of a client takes long to build): a token taken early is spent
    late, and requests spent late bunch up at the server. Waiters queue on one lock, so only one of
    them polls the bucket.
    """

    def __init__(
        self,
        limiter: Limiter,
        *,
        name: str,
        requests: int,
        window_s: float,
        concurrency: int | None,
        blocking_io: bool,
    ) -> None:
        self.limiter = limiter
        self.name = name
        self.requests = requests
        self.window_s = window_s
        self.concurrency = concurrency
        self._blocking_io = blocking_io
        self._acquired = 0
        self._poll_s = min(0.25, max(0.01, window_s / requests / 4))
        # asyncio primitives belong to one loop. The runtime's gates only ever see its loop; a gate
        # used from several loops (a provider driven by asyncio.run in tests) keeps one set per loop.
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]
        self._states = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._lock:
            state = self._states.get(loop)
            if state is None:
                semaphore = asyncio.Semaphore(self.concurrency) if self.concurrency else None
                state = self._states[loop] = _LoopState(semaphore, asyncio.Lock())
            return state

    def _try_now(self) -> bool:
        ok = bool(self.limiter.try_acquire(self.name, 1, False))
        if ok and self._blocking_io:
            self._acquired += 1
            if self._acquired % LEAK_EVERY == 0:
                self._leak()
        return ok

    def _leak(self) -> None:
        try:
            for bucket in self.limiter.buckets():
                bucket.leak(bucket.now())
        except Exception:
            log.debug("cleaning the LLM rate bucket failed", exc_info=True)

    async def _try(self) -> bool:
        if self._blocking_io:
            return await asyncio.to_thread(self._try_now)
        return self._try_now()

    async def acquire(self) -> None:
        """Wait for a token (cancellable: the wait is on the loop, only the bucket's SQL is in a thread)."""
        async with self._state().waiting:
            while not await self._try():
                await asyncio.sleep(self._poll_s)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the `concurrency` places for a call in flight (its retries included)."""
        semaphore = self._state().semaphore
        if semaphore is None:
            yield
            return
        async with semaphore:
            yield


class LLMRuntime:
    """The process's LLM event loop and its gates. Use `get_runtime()`; thread-safe and lazy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._gates: dict[tuple[Any, ...], RateGate] = {}
        self._build_lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="chatkit-llm-runtime", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def on_loop(self) -> bool:
        """Is the caller running on the runtime's loop?"""
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start `coro` on the runtime loop in a copy of the caller's context: context variables (whom
        the audit rows name) travel with the work, as they would on the caller's own loop."""
        context = contextvars.copy_context()
        loop = self.loop

        async def in_callers_context() -> T:
            return await loop.create_task(coro, context=context)

        return asyncio.run_coroutine_threadsafe(in_callers_context(), loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the runtime loop and wait for it (from any thread but the loop's own)."""
        if self._thread is not None and threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("the LLM runtime's own thread cannot wait for itself; await the coroutine")
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:  # Ctrl-C or a dying caller: do not leave its requests running
            future.cancel()
            raise

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the runtime loop from any loop; cancelling the caller cancels it there too."""
        if self.on_loop():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def gate(
        self,
        *,
        endpoint: str,
        requests: int,
        window_s: float,
        concurrency: int | None,
        store_url: str | None = None,
    ) -> RateGate:
        """The one gate for this endpoint and budget (and store), made on first use."""
        key = (endpoint, requests, window_s, concurrency, store_url)
        # A separate lock: building a database bucket does I/O, and two threads must not build two.
        with self._build_lock:
            gate = self._gates.get(key)
            if gate is None:
                limiter, blocking_io = make_limiter(
                    requests, window_s, store_url=store_url, endpoint=endpoint
                )
                gate = self._gates[key] = RateGate(
                    limiter,
                    name=endpoint or "llm",
                    requests=requests,
                    window_s=window_s,
                    concurrency=concurrency,
                    blocking_io=blocking_io,
                )
            return gate


_runtime: LLMRuntime | None = None
_runtime_pid: int | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> LLMRuntime:
    """The process's runtime. A forked child gets its own (the parent's loop thread is not in it)."""
    global _runtime, _runtime_pid
    with _runtime_lock:
        if _runtime is None or _runtime_pid != os.getpid():
            _runtime, _runtime_pid = LLMRuntime(), os.getpid()
        return _runtime
