"""Importing changes nothing process-wide: the GC stays on for every thread."""

from __future__ import annotations

import json

from support.process_state import gc_states_while

from chatkit.domain.sample import sample_records
from chatkit.ingest import import_bytes, import_records


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
