"""The lifecycle merge by numpy over each id's runs equals the pandas group-by it replaced.

`_merge` once made a DataFrame of the rows whose id repeats and took `groupby(...).last()`; that
implementation is kept here as the reference, and both must give the same table, conflict warnings
and last rows on random work tables (repeated ids, nulls in every column, terminal and active
statuses in any order, rows out of order as the row path's come after the fast ones).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from chatkit.domain.lifecycle import TERMINAL_STATUSES
from chatkit.ingest.columnar import _WORK, _conflicts, _merge
from chatkit.ingest.issue_columns import IssueColumns


def _pandas_merge(work: pa.Table, name: str, word: str) -> tuple[pa.Table, IssueColumns, np.ndarray]:
    """The old `_merge`, word for word."""
    rows = work.column("row").to_numpy()
    codes = pc.dictionary_encode(work.column("id").combine_chunks()).indices.to_numpy()
    repeated = np.bincount(codes)[codes] > 1 if len(codes) else np.zeros(0, dtype=bool)
    single = np.flatnonzero(~repeated)
    if not repeated.any():
        order = np.argsort(rows, kind="stable")
        return work.take(pa.array(order)), IssueColumns(), rows[order]
    pair = np.flatnonzero(repeated)
    pair = pair[np.argsort(rows[pair], kind="stable")]
    group = work.take(pa.array(pair)).to_pandas(timestamp_as_object=False)
    warnings = _conflicts(group, name, word)
    terminal = group["status"].isin(TERMINAL_STATUSES)
    group["terminal"] = group["status"].where(terminal)
    group["other"] = group["status"].where(~terminal & group["status"].notna())
    grouped = group.groupby("id", sort=False)
    merged = grouped.last()
    first = grouped["row"].first()
    merged["last_row"] = grouped["row"].last()
    merged["row"] = first
    merged["status"] = merged["terminal"].fillna(merged["other"])
    merged = merged.reset_index()
    merged_table = pa.Table.from_pandas(merged[[f.name for f in _WORK]], schema=_WORK, preserve_index=False)
    both = pa.concat_tables([work, merged_table])
    index = np.concatenate([single, work.num_rows + np.arange(len(merged))])
    first_rows = np.concatenate([rows[single], merged["row"].to_numpy()])
    last = np.concatenate([rows[single], merged["last_row"].to_numpy()])
    order = np.argsort(first_rows, kind="stable")
    return both.take(pa.array(index[order])), warnings, last[order]


def _work(rng: random.Random, n: int, ids: int) -> pa.Table:
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.3 else value

    records = []
    for row in rng.sample(range(2, 10 * n + 2), n):  # rows out of order, as after the row path's
        records.append(
            {
                "row": row,
                "id": f"cksess_{rng.randrange(ids)}",
                "status": maybe(rng.choice(["active", "expired", "cancelled"])),
                "workflow_id": maybe(rng.choice(["wf_a", "wf_b"])),
                "workflow_version": maybe(rng.choice(["1", "2"])),
                "scope_customer_id": maybe(rng.choice(["c1", "c2"])),
                "user": maybe(rng.choice(["u1", "u2"])),
                "rate_top": maybe(rng.choice([10, 60, 999_999_999_999_999])),
                "rate_nested": maybe(rng.choice([10, 60])),
                "requests": maybe(rng.randrange(100)),
                "ttl_seconds": maybe(rng.choice([60, 600])),
                "created_at": maybe(start + timedelta(microseconds=rng.randrange(10**12))),
                "expires_at": maybe(start + timedelta(seconds=rng.randrange(10**6))),
                "cancelled_at": maybe(start + timedelta(seconds=rng.randrange(10**6))),
                "reason": maybe(rng.choice(["quota", "user"])),
            }
        )
    table = pa.Table.from_pylist(records, schema=_WORK)
    cut = rng.randrange(n + 1)  # chunked, as the reader's parts are
    return pa.concat_tables([table.slice(0, cut), table.slice(cut)])


@pytest.mark.parametrize("seed", range(40))
def test_the_merge_equals_the_pandas_group_by(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(1, 300)
    work = _work(rng, n, ids=rng.randrange(1, n + 1))
    table, warnings, last_rows = _merge([work], "f.csv", "row")
    want_table, want_warnings, want_last = _pandas_merge(work, "f.csv", "row")
    assert table.equals(want_table)
    assert last_rows.tolist() == want_last.tolist()
    assert [w.model_dump() for w in warnings] == [w.model_dump() for w in want_warnings]


def test_no_rows_and_no_repeats() -> None:
    empty = _WORK.empty_table()
    assert _merge([empty], "f.csv", "row")[0].num_rows == 0
    work = _work(random.Random(1), 50, ids=10**9)
    assert _merge([work], "f.csv", "row")[0].equals(_pandas_merge(work, "f.csv", "row")[0])
