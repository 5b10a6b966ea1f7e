"""`assert_linear`: a parser's time grows at most linearly with its input — a ratio, not a deadline.

The function is timed on adversarial inputs of 10 KB, 100 KB and 1 MB, and time(1 MB) / time(100 KB)
must stay within `max_ratio` (15: ten times the input, with room for caches and the allocator). A
ratio measured in the same run holds on a slow or busy machine, where a wall-clock limit would not.

Time is the calling thread's CPU time, not the wall clock: on a machine shared by many processes a
call longer than a scheduler slice waits for the CPU, so wall-clock ratios grow with the load
(measured here: 30 instead of 10 for the same linear regex scan at a load of 16 on 2 cores).

A quadratic or cubic function must fail fast rather than hold a test worker for minutes, so each
call is cut short (SIGPROF from a CPU-time timer, which also interrupts a regex; pytest-timeout's
SIGALRM is left alone) once it has used `max_ratio` times the CPU of the size before, with some
slack, or `first_budget` seconds for the first, smallest input: by then the verdict is known.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

SIZES = (10_000, 100_000, 1_000_000)
# A measurement is abandoned past this multiple of what linear growth allows.
_SLACK = 1.5
_BUDGET_FLOOR = 1.0  # CPU seconds: below this, allocator and cache effects dominate
# Calls faster than this are repeated (the fastest counts), so timer ticks and cold caches do not decide.
_MIN_TIME = 0.05
_MIN_CALLS = 1
_MAX_CALLS = 1000


class _TooSlow(Exception):
    pass


def assert_linear(
    fn: Callable[[Any], object],
    make_input: Callable[[int], Any],
    *,
    sizes: Sequence[int] = SIZES,
    max_ratio: float = 15.0,
    repeat: int = 5,
    first_budget: float = 5.0,
) -> dict[int, float]:
    """Assert time(sizes[-1]) / time(sizes[-2]) <= max_ratio for `fn(make_input(size))`.

    `make_input(size)` builds an input of about `size` characters (or bytes); it is not timed. Each
    size is timed once; when the ratio is over, the two largest are timed again (best of `repeat`),
    so one noisy measurement does not fail a linear function. Returns the best time of each size.
    """
    inputs = {size: make_input(size) for size in sizes}
    best: dict[int, float] = {}
    previous: float | None = None
    for size in sizes:
        budget = first_budget if previous is None else max(max_ratio * _SLACK * previous, _BUDGET_FLOOR)
        best[size] = _timed(fn, inputs[size], budget, size)
        previous = best[size]
    small, large = sizes[-2], sizes[-1]
    for _ in range(repeat - 1):
        if _ratio(best, small, large) <= max_ratio:
            break
        best[small] = min(best[small], _timed(fn, inputs[small], None, small))
        best[large] = min(best[large], _timed(fn, inputs[large], None, large))
    ratio = _ratio(best, small, large)
    assert ratio <= max_ratio, (
        f"not linear: {_size(large)} took {best[large]:.3f}s, {_size(small)} took {best[small]:.4f}s "
        f"(ratio {ratio:.1f} > {max_ratio})"
    )
    return best


def _ratio(best: dict[int, float], small: int, large: int) -> float:
    return best[large] / max(best[small], 1e-6)  # a timer tick, not zero


def _timed(fn: Callable[[Any], object], value: Any, budget: float | None, size: int) -> float:
    """The fastest of the calls made until `_MIN_TIME` has passed, in CPU seconds (one call when it
    takes longer); each call has `budget` seconds."""
    gc.collect()
    fastest, calls, elapsed = float("inf"), 0, 0.0
    while calls < _MIN_CALLS or (elapsed < _MIN_TIME and calls < _MAX_CALLS):
        try:
            with _deadline(budget):
                start = time.thread_time()
                fn(value)
                took = time.thread_time() - start
        except _TooSlow:
            raise AssertionError(
                f"not linear: {_size(size)} did not finish within {budget:.2f} CPU seconds "
                "(the first size's budget, or what linear growth from the size before allows)"
            ) from None
        fastest, calls, elapsed = min(fastest, took), calls + 1, elapsed + took
    return fastest


@contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Raise _TooSlow in the main thread once the process has used `seconds` of CPU. Off the main
    thread, or with no budget, there is no deadline."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _TooSlow

    handler = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, handler)


def _size(size: int) -> str:
    return f"{size / 1_000_000:g} MB" if size >= 1_000_000 else f"{size / 1000:g} KB"
