"""`python -m bench` (`make bench`): every benchmark in turn, each writing bench/results/<name>.md.

`python -m bench frame overview` runs only those. Benchmarks are not tests: they record figures
(with the machine they ran on) as ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ["models", "frame", "dataset", "store", "overview", "api", "scale", "import_memory"]


def main(argv: list[str]) -> int:
    chosen = argv or BENCHMARKS
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"== bench.bench_{name}", flush=True)
        # One process each: a benchmark's imports and caches must not warm the next one.
        if subprocess.call([sys.executable, "-m", f"bench.bench_{name}"]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
