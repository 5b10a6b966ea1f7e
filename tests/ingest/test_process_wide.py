"""Importing changes nothing process-wide: the GC stays on for every thread, csv's field limit stays put."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

import pytest
from support.process_state import gc_states_while

from chatkit.domain.sample import sample_records
from chatkit.ingest import DEFAULT_MAX_FIELD_BYTES, import_bytes, import_records
from chatkit.settings import Settings


def _jsonl(n: int) -> bytes:
    return "\n".join(json.dumps(record) for record in sample_records(n)).encode()


def test_the_garbage_collector_stays_on_while_a_large_file_imports() -> None:
    data = _jsonl(4000)
    result, states = gc_states_while(lambda: import_bytes("big.jsonl", data))
    assert len(result.sessions) == 4000 and result.ok
    assert states == {True}, "the import switched the garbage collector off for the whole process"


def test_the_garbage_collector_stays_on_while_records_validate() -> None:
    records = sample_records(4000)
    result, states = gc_states_while(lambda: import_records(records))
    assert len(result.sessions) == 4000
    assert states == {True}


@pytest.fixture
def default_csv_limit() -> Iterator[int]:
    """csv's own default limit for the test, whatever ran before in this process; restored after."""
    before = csv.field_size_limit(131_072)
    yield 131_072
    csv.field_size_limit(before)


def test_a_csv_cell_over_csvs_default_limit_is_read_and_the_limit_is_untouched(
    default_csv_limit: int,
) -> None:
    reason = "r" * (default_csv_limit + 10)  # just over the csv module's default field limit
    data = f"id,status,reason\ncksess_a,cancelled,{reason}\ncksess_b,active,ok\n".encode()
    result = import_bytes("big.csv", data)
    assert [s.id for s in result.sessions] == ["cksess_a", "cksess_b"] and result.ok
    assert result.sessions[0].reason == reason
    assert csv.field_size_limit() == default_csv_limit  # nothing process-wide was changed


def test_a_csv_cell_over_the_setting_is_a_row_error_naming_row_and_column(default_csv_limit: int) -> None:
    data = f'id,status,reason\ncksess_a,active,"{"x" * 5000}"\ncksess_b,active,ok\n'.encode()
    result = import_bytes("big.csv", data, max_field_bytes=4096)
    assert [s.id for s in result.sessions] == ["cksess_b"]
    (error,) = result.errors
    assert (error.file, error.location, error.field) == ("big.csv", "row 2", "reason")
    assert error.message == (
        "this cell holds 5000 bytes, over the 4096 bytes allowed for one CSV cell "
        "(CHATKIT_MAX_FIELD_BYTES); the row was skipped"
    )
    assert csv.field_size_limit() == default_csv_limit


def test_the_settings_default_for_a_csv_cell_is_the_importers() -> None:
    assert Settings.model_fields["chatkit_max_field_bytes"].default == DEFAULT_MAX_FIELD_BYTES
