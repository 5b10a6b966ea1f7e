"""Benchmark: sample -> sessions -> diagnoses -> frame -> aggregates -> figures, at 1k and 100k sessions.

Run `python -m bench.bench_frame` (or `python bench/bench_frame.py`). Absolute seconds depend on the
machine and on whatever else runs on it, so each stage is also reported relative to figures measured in
the same run: per-session cost at 100k vs at 1k (1.0 = scales linearly), and the stage's time as a
multiple of a fixed baseline (serialising the same records with `json.dumps`). Prints a table and writes
bench/results/frame.md with the machine description. Not part of the test suite.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from chatkit.analytics import charts
from chatkit.analytics.frame import counts_by, counts_over_time, kpis, sessions_frame, utilization_percentiles
from chatkit.analytics.whatif import avoidance_thresholds, prevention_quotes, what_if
from chatkit.domain.models import ChatKitSession
from chatkit.domain.rules import diagnose_all
from chatkit.domain.sample import sample_records

SIZES = (1_000, 100_000)
REPEATS = {1_000: 5, 100_000: 1}  # best of N: small runs are cheap to repeat and noisy on a shared CPU
RESULTS = Path(__file__).resolve().parent / "results" / "frame.md"


def _timed(fn: Callable[[], Any]) -> tuple[Any, tuple[float, float]]:
    """fn's result and its (wall, cpu) seconds, after a collection so stages do not pay for each other."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - wall, time.process_time() - cpu)


def _aggregates(frame: Any) -> None:
    kpis(frame)
    counts_by(frame, "workflow_id", top=10)
    counts_by(frame, "customer_id", top=10)
    counts_over_time(frame, "h")
    utilization_percentiles(frame)
    what_if(frame, limit=40, ttl_s=700)
    avoidance_thresholds(frame)
    prevention_quotes(frame)


def _figures(frame: Any) -> None:
    charts.requests_vs_limit(frame)
    charts.utilization_by_workflow(frame)
    charts.ttl_vs_time_to_end(frame)
    charts.cancellations_over_time(frame, "h")
    charts.top_cancellations(frame, "workflow_id")
    charts.top_cancellations(frame, "customer_id")


def run_size(n: int) -> dict[str, tuple[float, float]]:
    """Stage -> (wall s, cpu s) for `n` sessions."""
    times: dict[str, tuple[float, float]] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        out, times[name] = _timed(fn)
        return out

    records = stage("generate records", lambda: sample_records(n))
    stage("baseline: json.dumps", lambda: [json.dumps(r) for r in records])
    sessions = stage("validate sessions", lambda: [ChatKitSession.model_validate(r) for r in records])
    diagnoses = stage("diagnose", lambda: diagnose_all(sessions))
    frame = stage("build frame", lambda: sessions_frame(sessions, diagnoses))
    stage("kpis + aggregates + what-if", lambda: _aggregates(frame))
    stage("6 figures", lambda: _figures(frame))
    core = ("diagnose", "build frame", "kpis + aggregates + what-if", "6 figures")
    times["sessions -> figures (total)"] = (
        sum(times[k][0] for k in core),
        sum(times[k][1] for k in core),
    )
    return times


def best_of(n: int, repeats: int) -> dict[str, tuple[float, float]]:
    runs = [run_size(n) for _ in range(repeats)]
    return {stage: min((r[stage] for r in runs), key=lambda t: t[1]) for stage in runs[0]}


def main() -> None:
    info = machine()
    run_size(200)  # warm-up: imports and Plotly's lazily built validators are not what we measure
    results = {n: best_of(n, REPEATS[n]) for n in SIZES}
    small, large = SIZES
    base_small = results[small]["baseline: json.dumps"][1]
    base_large = results[large]["baseline: json.dumps"][1]
    header = (
        f"| stage | {small:,} wall s | {small:,} cpu s | {large:,} wall s | {large:,} cpu s "
        f"| µs/session at {large:,} (cpu) | per-session cost {large:,} vs {small:,} "
        f"| same, over the baseline's | × baseline at {large:,} |"
    )
    lines = [header, "|" + "---|" * 9]
    baseline_ratio = (base_large / large) / (base_small / small)
    for stage in results[small]:
        ws, cs = results[small][stage]
        wl, cl = results[large][stage]
        per_session_ratio = (cl / large) / (cs / small) if cs > 0 else float("nan")
        lines.append(
            f"| {stage} | {ws:.3f} | {cs:.3f} | {wl:.2f} | {cl:.2f} | {cl / large * 1e6:.1f} "
            f"| {per_session_ratio:.2f} | {per_session_ratio / baseline_ratio:.2f} | {cl / base_large:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        "# Frame benchmark",
        "",
        f"`python -m bench.bench_frame`, run {stamp}.",
        "",
        "Stages: raw records are generated (`chatkit.domain.sample`), validated into `ChatKitSession`, diagnosed,",
        "turned into the sessions frame, aggregated (KPIs, counts by workflow/customer/hour, utilization",
        "percentiles, a what-if, thresholds and prevention quotes) and drawn as the Overview's figures.",
        "CPU seconds are the process's own time; wall seconds include waiting for a shared CPU.",
        f"Each size is the best of {REPEATS[SIZES[0]]} runs at {SIZES[0]:,} and {REPEATS[SIZES[1]]} at "
        f"{SIZES[1]:,}, after a warm-up run (imports, Plotly's validators).",
        '"Per-session cost" divides the 100k cost per session by the 1k cost per session (1.0 = linear);',
        '"× baseline" is the stage\'s CPU time over `json.dumps` of the same records in the same run,',
        f"which was {base_small:.3f} s at {small:,} and {base_large:.2f} s at {large:,} sessions.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Results",
        "",
        table,
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md), encoding="utf-8")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
