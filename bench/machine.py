"""Where a benchmark ran, for the Machine section of its results: figures from a shared or slower
machine read differently, so every result file names the CPU, cores, memory and load it saw."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def machine() -> dict[str, str]:
    """Date, CPU, usable cores, RAM, load at start and Python; "unknown" where the system does not say.

    Benchmarks add their own entries (library and server versions) with `machine() | {...}`.
    """
    return {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "CPU": _proc_field("/proc/cpuinfo", "model name", lambda v: v) or platform.processor() or "unknown",
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "RAM": _proc_field(
            "/proc/meminfo", "MemTotal", lambda v: f"{int(v.split()[0]) / 1024 / 1024:.1f} GiB"
        )
        or "unknown",
        "load average at start (1/5/15 min)": (
            " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
        ),
        "Python": f"{platform.python_version()} on {platform.system()} {platform.release()}",
    }


def _proc_field(path: str, name: str, convert: Callable[[str], str]) -> str | None:
    """The first `name: value` line of a /proc file, converted; None when absent or unreadable."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(name):
            return convert(line.split(":", 1)[1].strip())
    return None
