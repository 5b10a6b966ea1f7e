"""The columnar CSV reader's byte masks equal the regexes they replaced (kept here as the reference).

`chatkit.ingest.columnar` checks cells by numpy over each column's bytes; these are the RE2 patterns
it ran per cell before, and every mask and parsed value must agree with them on hostile and random
cells (odd digits, signs, zones, whitespace, non-ASCII, near-misses of each shape).
"""

from __future__ import annotations

import random
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatkit.ingest import csv_reader
from chatkit.ingest.columnar import _STATUSES, _TS, _Bytes, _check

_COUNT = r"^(?:0|[1-9]\d{0,14})(?:\.0{1,6})?$"
_EPOCH = r"^(?:[1-9]\d{8,9}|[1-9]\d{11,12})(?:\.0)?$"
_ISO = r"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6})?(?:Z|\+00:00)?$"
_SAFE_ENDS = r"(?s)^[!-~](?:.*[!-~])?$"
_NON_FINITE_RE = "(?i)^(?:" + "|".join(re.escape(t) for t in sorted(csv_reader.NON_FINITE)) + ")$"
_FREE_ENDS = r"(?s)^[!-Z\\\]-z|-~](?:.*[!-~])?$"
_MIN_S, _MAX_S = 946_684_800, 4_102_444_800


def _match(col: pa.Array, pattern: str) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.match_substring_regex(col, pattern), False), dtype=bool)


def _reference(kind: str, col: pa.Array) -> tuple[np.ndarray, list[object]]:
    """The old `_check`: (accepted cells, their values with None for empty)."""
    empty = np.asarray(pc.equal(col, ""), dtype=bool)
    plain = _match(col, _SAFE_ENDS) & ~_match(col, _NON_FINITE_RE)
    cells = col.to_pylist()
    blank = [None if e else c for c, e in zip(cells, empty, strict=True)]
    if kind == "id":
        return plain & np.asarray(pc.less_equal(pc.utf8_length(col), 512), dtype=bool), cells
    if kind == "text":
        return empty | plain, blank
    if kind == "status":
        return empty | np.isin(np.array(cells, dtype=object), _STATUSES), blank
    if kind == "any":
        return empty | (_match(col, _FREE_ENDS) & ~_match(col, _NON_FINITE_RE)), cells
    if kind == "count":
        ok = empty | _match(col, _COUNT)
        return ok, [
            int(re.sub(r"\.0*$", "", c)) if o and not e else None
            for c, o, e in zip(cells, ok, empty, strict=True)
        ]
    assert kind == "time"
    return _reference_times(col, empty)


def _reference_times(col: pa.Array, empty: np.ndarray) -> tuple[np.ndarray, list[object]]:
    """The old `_times`, word for word (a date that does not exist fails the column's ISO cells)."""
    epoch = _match(col, _EPOCH)
    iso = _match(col, _ISO)
    numbers = pc.cast(
        pc.replace_substring_regex(pc.if_else(pa.array(epoch), col, None), r"\.0$", ""), pa.int64()
    )
    digits = np.asarray(pc.fill_null(numbers, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    millis = digits >= 100_000_000_000
    seconds = np.where(millis, digits // 1000, digits)
    micros = np.where(millis, digits * 1000, digits * 1_000_000)
    epoch &= (seconds >= _MIN_S) & (seconds < _MAX_S) & (~millis | (digits >= _MIN_S * 1000))
    naive = pc.replace_substring_regex(pc.if_else(pa.array(iso), col, None), r"(?:Z|\+00:00)$", "")
    try:
        iso_values = pc.cast(pc.cast(naive, pa.timestamp("us")), _TS)
    except pa.ArrowInvalid:
        iso_values = pa.nulls(len(col), _TS)
        iso[:] = False
    iso_micros = np.asarray(
        pc.fill_null(iso_values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    known = epoch | iso
    values = [int(v) if k else None for v, k in zip(np.where(epoch, micros, iso_micros), known, strict=True)]
    return empty | known, values


_KINDS = ("id", "text", "status", "any", "count", "time")

# Near-misses of every shape the masks know, and the characters that break them.
_SEEDS = [
    "",
    " ",
    "0",
    "00",
    "7",
    "07",
    "7.0",
    "7.",
    ".0",
    "7.000000",
    "7.0000000",
    "7.5",
    "-1",
    "+1",
    "1e3",
    "999999999999999",
    "1000000000000000",
    "1_000",
    "１２",
    "٣",
    "1700000000",
    "1700000000.0",
    "1700000000.00",
    "1700000000000",
    "170000000000",
    "0170000000",
    "99999999",
    "5000000000",
    "2026-01-02T03:04:05",
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05+00:00",
    "2026-01-02T03:04:05.123Z",
    "2026-01-02T03:04:05.123456+00:00",
    "2026-01-02T03:04:05.1234Z",
    "2026-01-02 03:04:05",
    "1999-01-02T03:04:05",
    "2026-1-02T03:04:05",
    "2026-01-02T03:04:05z",
    "2026-01-02T03:04:05+01:00",
    "2026-01-02T03:04:05.12Z",
    "2026-01-02T03:04:05.123+00:00",
    "2026-01-02T03:04:05 ",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "+Inf",
    "-INFINITY",
    "infinity",
    "Infinityy",
    "nan ",
    "ｎａｎ",
    "active",
    "expired",
    "Active",
    "cancelled",
    " active",
    "a",
    "[1]",
    "{x}",
    "]",
    "|",
    "\\",
    "x y",
    "é",
    "xé",
    "éx",
    "x\u00a0",
    "\tx",
    "x\n",
    "cksess_1",
    "a" * 512,
    "a" * 513,
    "é" * 300,
]
_ALPHABET = "0123456789.-+:TZzeE nNaAiIfFtTyY [{}]é\u00a0\t\n_x"


def _assert_same(kind: str, cells: list[str]) -> None:
    col = pa.array(cells, type=pa.string())
    ok, value = _check(kind, col, _Bytes(col))
    want_ok, want_values = _reference(kind, col)
    assert ok.tolist() == want_ok.tolist(), kind
    if kind == "time":
        assert value.type == _TS
        value = value.cast(pa.int64())
    assert value.to_pylist() == want_values, kind


@pytest.mark.parametrize("kind", _KINDS)
def test_masks_equal_the_regexes_on_near_misses(kind: str) -> None:
    _assert_same(kind, _SEEDS)


@pytest.mark.parametrize("kind", _KINDS)
def test_masks_equal_the_regexes_on_random_cells(kind: str) -> None:
    rng = random.Random(9)
    cells = []
    for _ in range(3000):
        seed = list(rng.choice(_SEEDS))
        for _ in range(rng.randrange(3)):  # a few edits of a near-miss
            at = rng.randrange(len(seed) + 1)
            seed[at : at + rng.randrange(2)] = rng.choice(_ALPHABET)
        cells.append("".join(seed))
    for start in range(0, len(cells), 20):  # small chunks: one impossible date fails its chunk's ISO cells
        _assert_same(kind, cells[start : start + 20])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=20), st.integers(0, 3))
def test_masks_equal_the_regexes_on_any_text_and_slices(cells: list[str], offset: int) -> None:
    # A column sliced from a longer one (an offset into its buffers) reads the same cells.
    padded = pa.array(["x"] * offset + cells, type=pa.string()).slice(offset)
    for kind in _KINDS:
        ok, _ = _check(kind, padded, _Bytes(padded))
        assert ok.tolist() == _reference(kind, pa.array(cells, type=pa.string()))[0].tolist()


def test_a_date_that_does_not_exist_sends_the_chunks_iso_cells_to_the_row_path() -> None:
    col = pa.array(["2026-02-30T00:00:00Z", "2026-01-02T03:04:05", "1700000000", ""], type=pa.string())
    ok, value = _check("time", col, _Bytes(col))
    assert ok.tolist() == [False, False, True, True]
    assert value.cast(pa.int64()).to_pylist() == [None, None, 1_700_000_000_000_000, None]
