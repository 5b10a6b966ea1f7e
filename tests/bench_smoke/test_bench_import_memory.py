"""The import-memory bench keeps working: a tiny run writes one row per kind with its ratio."""

from __future__ import annotations

import re

from bench import bench_import_memory


def test_a_tiny_run_measures_every_kind(tmp_path) -> None:
    out = tmp_path / "import_memory.md"
    assert bench_import_memory.main(["1", "--out", str(out)]) == 0
    rows = re.findall(
        r"^\| (json|jsonl|csv) \| ([\d.]+) MB \| ([\d.]+) MB \| ([\d.]+) \| (\d+) \| 0 \|",
        out.read_text(),
        re.M,
    )
    assert [kind for kind, *_ in rows] == ["json", "jsonl", "csv"]
    for _, size, grown, ratio, sessions in rows:
        assert 0.9 <= float(size) <= 1.2  # each kind's file is the size asked, whatever it holds
        assert abs(float(ratio) - float(grown) / float(size)) <= 0.1 * float(ratio)  # growth ÷ file
        assert int(sessions) > 0
    assert int(rows[2][4]) > 3 * int(rows[1][4])  # a CSV of that size holds far more sessions
    assert "## Machine" in out.read_text()
