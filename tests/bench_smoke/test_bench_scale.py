"""The scale benchmark still runs end to end and writes its table (timings are not asserted: see bench/)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import bench_scale


def test_scale_bench_runs_every_step_and_writes_its_table(tmp_path):
    out = tmp_path / "scale.md"
    # 300 runs today's pipeline and prepares the tiled table the 700 row's column-wise rules read.
    assert (
        bench_scale.main(["--sizes", "300,700", "--pipeline-max", "300", "--in-process", "--out", str(out)])
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert "## Machine" in text and "nproc" in text
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    for step in ("json.loads per line", "pandas.read_csv", "pyarrow.csv.read_csv", "pyarrow.json.read_json"):
        assert "—" not in rows[step], step  # measured at both sizes
    assert "(extrapolated)" in rows["today: JSONL import + facts table"]
    assert "—" not in rows["rules by column: diagnose_columns"]
    assert "—" not in rows[bench_scale._LEAN]
    assert "—" not in rows[bench_scale._COLUMNAR_CSV]  # the columnar import runs at every size
    assert "—" not in rows[bench_scale._COLUMNAR_JSONL]
    assert "—" not in rows[bench_scale._COLUMNAR_JSON]
    assert "by today's row path" in text and "parquet save" in text
    assert "× with evidence" in text and "× without" in text  # the row-wise / column-wise summary
    assert "lifecycle pairs" in text and "bad rows" in text


def test_a_measurement_in_its_own_process_reports_its_peak_memory(tmp_path):
    files = bench_scale.write_files(400, tmp_path)
    assert files["bad"] == 4 and files["pairs"] > 0
    got = bench_scale.measure("json_loads", files["jsonl"])
    assert got["peak_mb"] > 1
    lines = files["rows"]
    assert got["note"] == f"{lines - 1:,} lines parsed"  # one bad row in four is a truncated line
    first = Path(files["flat"]).read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(first)["id"]
