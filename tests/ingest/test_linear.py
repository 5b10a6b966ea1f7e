"""Every ingest scan is linear: adversarial inputs of 10 KB, 100 KB and 1 MB (tests/support/linear)."""

from __future__ import annotations

import csv
import io

from support.linear import assert_linear

from chatkit.domain.rules import _classify_reason
from chatkit.ingest import import_bytes
from chatkit.ingest.json_reader import _value_end
from chatkit.ingest.parsed import Parsed
from chatkit.ingest.sniff import looks_jsonl, sniff


def test_the_bracket_scan_of_salvage_is_linear() -> None:
    assert_linear(lambda text: _value_end(text, 0), lambda n: "[" + '"' + '\\"' * (n // 2))
    assert_linear(lambda text: _value_end(text, 0), lambda n: '["' * (n // 2))
    assert_linear(lambda text: _value_end(text, 0), lambda n: "[" * n)


def test_the_bracket_scan_still_finds_the_end_and_skips_brackets_in_strings() -> None:
    text = '[["]", "\\"]"], {"a": "}"}] tail'
    assert _value_end(text, 0) == len(text) - len(" tail")
    assert _value_end('["never closed', 0) is None


def test_salvage_keeps_the_items_around_an_over_nested_one() -> None:
    deep = "[" * 1100 + "]" * 1100
    data = f'[{{"id": "cksess_1", "status": "active"}}, {deep}, {{"id": "cksess_2", "status": "active"}}]'
    result = import_bytes("s.json", data.encode())
    assert len(result.sessions) == 2


def test_reason_classification_is_linear() -> None:
    for make in (
        lambda n: "rate" + " " * n + "x",
        lambda n: "rate " * (n // 5),
        lambda n: "time_" * (n // 5),
        lambda n: "timed" + "-" * n,
    ):
        assert_linear(_classify_reason, make)


def test_sniffing_is_linear() -> None:
    def sniff_all(text: str) -> object:
        parsed = Parsed(name="x.json")
        found = sniff(text, parsed)
        return found and looks_jsonl(found.text, found.start)

    assert_linear(sniff_all, lambda n: " \ufeff" * (n // 2) + "{")
    assert_linear(sniff_all, lambda n: "{\n" * (n // 2))


def test_csv_delimiter_sniffing_is_linear() -> None:
    assert_linear(lambda data: import_bytes("wide.csv", data), lambda n: (",;\t" * (n // 3) + "\n").encode())


def _csv(cell: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "status", "state_variables"])
    writer.writerow(["cksess_1", "active", cell])
    return out.getvalue().encode()


def test_a_json_cell_is_decoded_and_a_python_repr_stays_text() -> None:
    result = import_bytes("a.csv", _csv('{"plan": "pro"}'))
    assert result.sessions[0].state_variables == {"plan": "pro"}
    result = import_bytes("b.csv", _csv("{'plan': __import__('os')}"))
    assert not result.sessions or result.sessions[0].state_variables != {"plan": "pro"}


def test_a_huge_list_cell_stays_text_with_a_warning() -> None:
    result = import_bytes("c.csv", _csv("[" + "1, " * 40_000 + "1]"))
    assert any("kept as text" in issue.message and issue.location == "row 2" for issue in result.warnings)


def test_the_files_of_one_import_are_capped_in_total(tmp_path) -> None:
    from chatkit.ingest import import_files, import_paths

    one = b'{"id": "cksess_1", "status": "active"}'
    two = b'{"id": "cksess_2", "status": "active"}'
    result = import_files([("a.json", one), ("b.json", two)], max_total_bytes=len(one) + 5)
    assert [s.id for s in result.sessions] == ["cksess_1"]
    assert [(e.file, "total limit" in e.message) for e in result.errors] == [("b.json", True)]
    (tmp_path / "a.json").write_bytes(one)
    (tmp_path / "b.json").write_bytes(two)
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    result = import_paths(paths, max_total_bytes=len(one) + 5)
    assert [s.id for s in result.sessions] == ["cksess_1"] and len(result.errors) == 1
    assert len(import_paths(paths, max_total_bytes=10 * len(one)).sessions) == 2
