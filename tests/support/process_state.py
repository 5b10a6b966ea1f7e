"""Watch process-wide state while library code runs in another thread (plain helper, no tests).

Library code must not flip switches every thread shares (the garbage collector, the csv module's field
limit): the dashboard's script threads, the worker and the API loop all run in one process.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any


def gc_states_while(work: Callable[[], Any]) -> tuple[Any, set[bool]]:
    """Run `work` in a thread while this thread samples `gc.isenabled()`; (work's result, states seen).

    Sampling starts before the work and ends after it, so a collector switched off for any part of
    the work shows up as False among the states."""
    result: list[Any] = []
    started, done = threading.Event(), threading.Event()

    def run() -> None:
        started.wait()
        try:
            result.append(work())
        finally:
            done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    states = {gc.isenabled()}
    started.set()
    while not done.is_set():
        states.add(gc.isenabled())
        done.wait(0.0005)  # releases the GIL, so the work makes progress between samples
    worker.join()
    states.add(gc.isenabled())
    return (result[0] if result else None), states
