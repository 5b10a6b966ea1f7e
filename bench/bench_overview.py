"""Benchmark: the Overview page through Streamlit's AppTest at 1,000 and 100,000 sessions.

Run `python -m bench.bench_overview` (or `python bench/bench_overview.py`). For each size a data set is
saved in a temporary store, Streamlit's caches are cleared, and the Overview is run:

- cold: the first run (the data set's stored facts frame is read, aggregated, drawn), and, outside
  Streamlit, what rebuilding that frame from the stored sessions costs (first open after an upgrade);
- new browser session: a second AppTest while the caches are warm (a colleague opening the link);
- warm rerun, nothing changed; warm rerun after moving a what-if slider (a widget that must not
  recompute the charts); a filter change (the filtered aggregates are recomputed), and back.

Absolute seconds depend on the machine and its load, so the 100k figures are also given as a ratio to
the 1k baseline measured in the same run. Writes bench/results/overview.md. Not part of the test suite.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st
from streamlit.testing.v1 import AppTest

from bench.machine import machine
from chatkit.analytics.frame import sessions_frame
from chatkit.domain.rules import diagnose_all
from chatkit.domain.sample import sample_sessions
from chatkit.settings import load_settings
from chatkit.store import Store, datasets

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
OVERVIEW = "pages/overview.py"
SIZES = (1_000, 100_000)
WARM_REPEATS = 3  # best of N for the warm reruns: a shared CPU makes single runs noisy
RESULTS = Path(__file__).resolve().parent / "results" / "overview.md"
AIM = {"cold": 3.0, "warm": 0.5}


def _timed(step: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _checked(at: AppTest) -> AppTest:
    if at.exception:
        raise RuntimeError(f"the Overview failed: {[e.value for e in at.exception]}")
    return at


def _overview() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=900)
    return at.switch_page(OVERVIEW)


def measure(size: int) -> dict[str, float]:
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["CHATKIT_DATA_DIR"] = data_dir
        os.environ["LLM_PROVIDER"] = "offline"
        store = Store.from_settings(load_settings())
        start = time.perf_counter()
        dataset_id = datasets.save_dataset(store, "bench", sample_sessions(size))  # as the Import page does
        times["setup: generate and save the data set"] = time.perf_counter() - start
        st.cache_data.clear()
        st.cache_resource.clear()

        at = _overview()
        times["cold: first run"] = _timed(lambda: _checked(at.run()))
        times["new browser session, caches warm"] = _timed(lambda: _checked(_overview().run()))
        times["warm rerun, nothing changed"] = min(
            _timed(lambda: _checked(at.run())) for _ in range(WARM_REPEATS)
        )

        def move_slider(value: int) -> None:
            slider = next(s for s in at.slider if s.label == "Per-minute limit")
            slider.set_value(value)
            _checked(at.run())

        times["warm rerun, what-if slider moved"] = min(
            _timed(lambda v=v: move_slider(v)) for v in (5, 50, 20)[:WARM_REPEATS]
        )

        def set_category(values: list[str]) -> None:
            at.sidebar.multiselect(key="ui_f_cat").set_value(values)
            _checked(at.run())

        times["filter change (recomputes aggregates)"] = _timed(lambda: set_category(["rate_limited"]))
        times["filter back (cached)"] = _timed(lambda: set_category([]))
        st.cache_data.clear()
        st.cache_resource.clear()
        # What a cold run would cost without the stored frame (Streamlit left out): the slow path
        # the first open takes after an upgrade changes FRAME_VERSION.
        record = store.load_dataset(dataset_id)
        assert record is not None
        sessions = record.sessions
        times["rebuild part: read + validate sessions from the store"] = _timed(
            lambda: store.load_dataset(dataset_id)
        )
        diagnoses = diagnose_all(sessions)
        times["rebuild part: diagnose"] = _timed(lambda: diagnose_all(sessions))
        times["rebuild part: build the frame"] = _timed(lambda: sessions_frame(sessions, diagnoses))
        store.close()
    return times


def _machine() -> list[str]:
    return [f"- {k}: {v}" for k, v in (machine() | {"Streamlit": st.__version__}).items()]


def main() -> None:
    machine = _machine()
    results = {size: measure(size) for size in SIZES}
    small, large = results[SIZES[0]], results[SIZES[-1]]
    lines = [
        "# Overview page benchmark",
        "",
        f"`python -m bench.bench_overview`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "The Overview (6 KPI tiles, 6 charts, the session table, the what-if panel) run through",
        "`streamlit.testing.v1.AppTest` against a SQLite store holding one data set of the built-in",
        "sample. Wall seconds; warm reruns are the best of "
        f"{WARM_REPEATS}. Aims from the issue: cold under {AIM['cold']:.0f} s, warm rerun under {AIM['warm']} s.",
        "In a browser the what-if panel is a fragment, so moving its slider reruns only the panel;",
        "AppTest reruns the whole page, so the figure below is an upper bound.",
        "",
        "## Machine",
        "",
        *machine,
        "",
        "## Results",
        "",
        f"| step | {SIZES[0]:,} sessions s | {SIZES[-1]:,} sessions s | ratio | aim |",
        "|---|---|---|---|---|",
    ]
    for step, seconds in large.items():
        aim = AIM["cold"] if step.startswith("cold:") else AIM["warm"] if step.startswith("warm") else None
        verdict = "" if aim is None else (f"< {aim} s: " + ("met" if seconds < aim else "missed"))
        lines.append(
            f"| {step} | {small[step]:.3f} | {seconds:.3f} | {seconds / small[step]:.1f}× | {verdict} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
