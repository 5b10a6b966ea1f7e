"""Benchmark: peak memory of importing a file of each kind (JSON, JSONL, CSV) against its size.

Run `python -m bench.bench_import_memory [MB ...]` (default 8 and 32 MB). Each import runs in a fresh
child process that reads the file's bytes first, then imports them; its growth in peak RSS during
the import (`VmHWM` after minus the RSS before) divided by the file's size is the figure, aimed
at < 5x (issue 8, item 3). The import is the default one (`import_bytes`: the session table and the
raw records; no session objects). The largest accepted file is CHATKIT_MAX_UPLOAD_MB (400 MB by
default): pass 400 to run it; the result says which sizes ran and how the ratio moved between them
(flat ratio = memory linear in size). Writes bench/results/import_memory.md. Not a test.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import machine
from chatkit.domain.sample import sample_records
from chatkit.settings import Settings

DEFAULT_MB = (8, 32)
CAP_MB = Settings.model_fields["chatkit_max_upload_mb"].default
RESULTS = Path(__file__).parent / "results" / "import_memory.md"

_CHILD = r"""
import sys, time
from chatkit.ingest import import_bytes
def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
def rss_kb():
    return status_kb("VmRSS:")
# Code loaded on first use (the readers' modules, pyarrow's kernels) is not the import's memory.
import_bytes("warm" + sys.argv[1][sys.argv[1].rindex("."):], sys.argv[2].encode())
data = open(sys.argv[1], "rb").read()
before = rss_kb()
start = time.perf_counter()
result = import_bytes(sys.argv[1], data, max_bytes=2**40)  # the session table and the raw records
took = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec, so a parent
# holding the generated records made a small import look like hundreds of MB.
peak = status_kb("VmHWM:")
print(len(data), max(peak, before) - before, result.session_count, len(result.errors), f"{took:.2f}")
"""


_WARM = {
    "json": '[{"id": "cksess_w", "ttl_seconds": 5000}, {"id": "cksess_w", "status": "cancelled"}]',
    "jsonl": '{"id": "cksess_w", "ttl_seconds": 5000}\n{"id": "cksess_w", "status": "cancelled"}\n',
    "csv": "id,status,ttl_seconds\ncksess_w,active,5000\ncksess_w,cancelled,\n",
}


def _records(count: int) -> list[dict]:
    base = sample_records()
    return [{**base[i % len(base)], "id": f"cksess_bench{i:09d}"} for i in range(count)]


def _count_for(kind: str, target_bytes: int, tmp: Path) -> int:
    """How many sessions make a file of `kind` of about `target_bytes` (a CSV holds ~5x the sessions
    of JSON of the same size: the largest accepted file of each kind is a different number of them)."""
    sample = _records(2_000)
    path = tmp / f"size.{kind}"
    _write(kind, sample, path)
    return int(target_bytes / (path.stat().st_size / len(sample))) + 1


def _write(kind: str, records: list[dict], path: Path) -> None:
    if kind == "json":
        path.write_text(json.dumps(records))
    elif kind == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        out = io.StringIO()
        columns = ["id", "object", "status", "created_at", "expires_at", "cancelled_at", "reason", "user"]
        writer = csv.writer(out)
        writer.writerow([*columns, "workflow.id", "rate_limits.max_requests_per_1_minute"])
        for r in records:
            writer.writerow(
                [
                    *(
                        r.get(c, "") if not isinstance(r.get(c), (dict, list)) else json.dumps(r[c])
                        for c in columns
                    ),
                    (r.get("workflow") or {}).get("id", ""),
                    (r.get("rate_limits") or {}).get("max_requests_per_1_minute", ""),
                ]
            )
        path.write_text(out.getvalue())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_import_memory", description=__doc__)
    parser.add_argument("mb", nargs="*", type=int, default=list(DEFAULT_MB), help="file sizes in MB")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file to write")
    args = parser.parse_args(argv)
    sizes = args.mb
    rows = []
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        for mb in sizes:
            for kind in ("json", "jsonl", "csv"):
                path = Path(tmp) / f"bench.{kind}"
                _write(kind, _records(_count_for(kind, mb * 1024 * 1024, Path(tmp))), path)
                out = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(path), _WARM[kind]],
                    capture_output=True, text=True, check=True, cwd=root,
                    env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                ).stdout.split()  # fmt: skip
                size, grown_kb, sessions, errors, took = int(out[0]), int(out[1]), out[2], out[3], out[4]
                ratio = grown_kb * 1024 / size
                rows.append((kind, size, grown_kb * 1024, ratio, sessions, errors, took))
                print(
                    f"{kind:5} {size / 1e6:7.1f} MB  peak +{grown_kb / 1024:7.1f} MiB  {ratio:4.1f}x  {took}s"
                )
    lines = [
        "# Import memory: peak RSS growth while importing one file, against the file's size",
        "",
        "Generated by `python -m bench.bench_import_memory` (see its docstring). Goal: < 5x the file.",
        "",
        "| kind | file | peak RSS growth | × file | sessions | errors | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {k} | {s / 1e6:.1f} MB | {g / 1e6:.1f} MB | {r:.1f} | {n} | {e} | {t} |"
            for k, s, g, r, n, e, t in rows
        ),
        "",
        f"Sizes run: {', '.join(f'{m} MB' for m in sizes)} of each kind (a CSV of that size holds ~5x"
        f" the sessions: fewer bytes a session). The largest accepted file is CHATKIT_MAX_UPLOAD_MB"
        f" ({CAP_MB} MB); "
        + (
            "it was run."
            if max(sizes) >= CAP_MB
            else "it was not run here; where the ratio stays flat, the same ratio extrapolates to it."
        ),
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine().items()),
        "",
    ]
    args.out.write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
