"""Benchmark: the Overview page through Streamlit's AppTest at 1,000, 100,000 and 1,000,000 sessions.

Run `python -m bench.bench_overview [SESSIONS ...]` (or `python bench/bench_overview.py`). For each
size `bench_scale`'s realistic CSV (both shapes, lifecycle pairs, ~1 % bad rows; written once to
`$CHATKIT_BENCH_DIR`, default /tmp/chatkit_bench) is imported and saved as the Import page does (the
session table and raw records), Streamlit's caches are cleared, and the Overview is run:

- cold: the first run (the data set's stored facts frame is read, aggregated, drawn), and, outside
  Streamlit, what rebuilding that frame from the stored session table costs (first open after an
  upgrade changes FRAME_VERSION);
- new browser session: a second AppTest while the caches are warm (a colleague opening the link);
- warm rerun, nothing changed; warm rerun after moving a what-if slider (a widget that must not
  recompute the charts); a filter change (the filtered aggregates are recomputed), and back.

Absolute seconds depend on the machine and its load, so the largest size's figures are also given as a
ratio to the 1k baseline measured in the same run. Writes bench/results/overview.md. Not part of the test suite.
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

from bench.bench_import_store import files
from bench.machine import machine
from chatkit.analytics.facts import facts_frame_from_columns
from chatkit.ingest import import_paths
from chatkit.settings import load_settings
from chatkit.store import Store, datasets
from chatkit.store.dataset_tables import TABLE_VERSION
from chatkit.web import identity

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
OVERVIEW = "pages/overview.py"
SIZES = (1_000, 100_000, 1_000_000)
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
    identity.use_test_identities(True)  # AppTest has no client address: treat it as 127.0.0.1, as tests do
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["CHATKIT_DATA_DIR"] = data_dir
        os.environ["LLM_PROVIDER"] = "offline"
        store = Store.from_settings(load_settings())
        path = files(size)["csv"]
        start = time.perf_counter()
        result = import_paths([path], max_bytes=2**40)
        times["setup: import the CSV"] = time.perf_counter() - start
        start = time.perf_counter()
        dataset_id = datasets.save_dataset(store, "bench", result, result.files)  # as the Import page does
        times["setup: save the data set"] = time.perf_counter() - start
        del result
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
        data = store.load_frame(dataset_id, TABLE_VERSION)
        assert data is not None
        table = datasets._read_parquet(data)
        times["rebuild part: read the stored session table"] = _timed(lambda: datasets._read_parquet(data))
        times["rebuild part: facts frame from the table (rules by column)"] = _timed(
            lambda: facts_frame_from_columns(table)
        )
        store.close()
    return times


def _machine() -> list[str]:
    return [f"- {k}: {v}" for k, v in (machine() | {"Streamlit": st.__version__}).items()]


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or list(SIZES)
    machine = _machine()
    results = {size: measure(size) for size in sizes}
    small, large = results[sizes[0]], results[sizes[-1]]
    lines = [
        "# Overview page benchmark",
        "",
        f"`python -m bench.bench_overview`, run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "The Overview (6 KPI tiles, 6 charts, the session table, the what-if panel) run through",
        "`streamlit.testing.v1.AppTest` against a SQLite store holding one data set imported from",
        "`bench_scale`'s realistic CSV. Wall seconds; warm reruns are the best of "
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
        "| step | " + " | ".join(f"{size:,} sessions s" for size in sizes) + " | ratio | aim |",
        "|---|" + "---|" * len(sizes) + "---|---|",
    ]
    for step, seconds in large.items():
        aim = AIM["cold"] if step.startswith("cold:") else AIM["warm"] if step.startswith("warm") else None
        verdict = "" if aim is None else (f"< {aim} s: " + ("met" if seconds < aim else "missed"))
        cells = " | ".join(f"{results[size][step]:.3f}" for size in sizes)
        lines.append(f"| {step} | {cells} | {seconds / small[step]:.1f}× | {verdict} |")
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
