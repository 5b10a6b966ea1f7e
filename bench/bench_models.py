"""Micro-benchmark: `ChatKitSession` validation, this tree's models.py against an earlier commit's.

Run `python -m bench.bench_models [REV]` (REV defaults to the commit before validation was sped up).
The earlier models.py is read with `git show` and imported under another name, so both run in the
same process, interleaved, on the same 10,000 sample records: the import path (`model_validate` of
dicts) and the store path (`model_validate_json` of stored rows, with and without the
`secrets_stripped` context the store now passes). Best CPU time of 7 rounds. Writes
bench/results/models.md. Not a test.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from chatkit.domain.models import ChatKitSession
from chatkit.domain.sample import sample_records

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REV = "9627005^"  # the parent of "models: one before-validator copying each record at most once"
N = 10_000
ROUNDS = 7
RESULTS = ROOT / "bench" / "results" / "models.md"


def _old_model(rev: str) -> type[ChatKitSession]:
    source = subprocess.run(
        ["git", "show", f"{rev}:chatkit/models.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("chatkit_models_before", file.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the module's annotations through it
    try:
        spec.loader.exec_module(module)
    finally:
        Path(file.name).unlink()
    return module.ChatKitSession


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_REV
    models = {"before": _old_model(rev), "after": ChatKitSession}
    records = sample_records(N)
    texts = [ChatKitSession.model_validate(r).canonical_json() for r in records]
    stripped = {"secrets_stripped": True}
    cases: dict[str, Callable[[Any], Any]] = {
        "baseline: json.dumps of the records": lambda m: [json.dumps(r) for r in records],
        "model_validate(dict) (import)": lambda m: [m.model_validate(r) for r in records],
        "model_validate_json(stored row)": lambda m: [m.model_validate_json(t) for t in texts],
        "model_validate_json(stored row, secrets_stripped)": lambda m: [
            m.model_validate_json(t, context=stripped) for t in texts
        ],
    }
    best: dict[tuple[str, str], float] = {}
    for _ in range(ROUNDS):
        for case, fn in cases.items():
            for label, model in models.items():
                gc.collect()
                start = time.process_time()
                fn(model)
                elapsed = time.process_time() - start
                best[case, label] = min(best.get((case, label), elapsed), elapsed)
    lines = [
        "| case | before cpu s | after cpu s | before µs/session | after µs/session | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases:
        b, a = best[case, "before"], best[case, "after"]
        lines.append(f"| {case} | {b:.3f} | {a:.3f} | {b / N * 1e6:.1f} | {a / N * 1e6:.1f} | {b / a:.2f}× |")
    old_load = best["model_validate_json(stored row)", "before"]
    new_load = best["model_validate_json(stored row, secrets_stripped)", "after"]
    table = "\n".join(lines)
    print(table)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        "# ChatKitSession validation: before/after micro-benchmark",
        "",
        f"`python -m bench.bench_models {rev}`, run {stamp}: {N:,} sample records, best CPU time of",
        f"{ROUNDS} interleaved rounds, both model versions in one process. The store's load path went",
        "from `model_validate_json(row)` on the old model to `model_validate_json(row, secrets_stripped)`",
        f"on the new one: {old_load:.3f} s → {new_load:.3f} s per {N:,} ({old_load / new_load:.2f}×).",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine().items()],
        "- shared with other developers' runs: interleaving keeps the comparison fair, not the absolutes.",
        "",
        "## Results",
        "",
        table,
        "",
    ]
    RESULTS.write_text("\n".join(md), encoding="utf-8")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
