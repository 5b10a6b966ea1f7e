"""An imported data set read by its columns: a summary's facts without a `ChatKitSession` per row.

`summarize(sessions)` builds and diagnoses every session; at 1,000,000 sessions that is ~100 s and
~10 GB (issue 9). The import already holds the session table, and the facts frame comes from it
column-wise (`analytics.facts`), so everything a summary needs is read here from those columns, the
same numbers in the same order as `llm.prompts.aggregates` and `representative` over the sessions.
Only the few sessions a prompt shows (the representative ones, those behind report notes) are built.
tests/reports/test_dataset_summary.py holds both paths equal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chatkit.analytics.columnar_rules import SESSION_SCHEMA, diagnose_columns
from chatkit.analytics.facts import facts_frame_from_columns
from chatkit.analytics.stats import percentiles_of
from chatkit.domain.models import Category, ChatKitSession, Diagnosis, Severity
from chatkit.domain.rules import diagnose
from chatkit.llm.prompts import NONE_LABEL, SEVERITY_RANK, SUMMARY_EXAMPLES, SUMMARY_TOP, pick_representative
from chatkit.llm.pseudonyms import dataset_key_of_sorted

if TYPE_CHECKING:
    from chatkit.ingest.table_import import TableImport

__all__ = ["Dataset"]

# Diagnoses with evidence are made this many rows at a time: the evidence texts are most of their size.
CHUNK_ROWS = 50_000


class Dataset:
    """A session table (`TABLE_SCHEMA`, one row per session in import order) and a way to build the
    sessions of some of its ids (`TableImport.sessions_for`)."""

    def __init__(self, table: pa.Table, sessions_for: Callable[[Collection[str]], list[ChatKitSession]]):
        self.table = table
        self.sessions_for = sessions_for

    @classmethod
    def of(cls, result: TableImport) -> Dataset:
        """The data set of a file import (`chatkit.ingest.table_import.TableImport`)."""
        return cls(result.table, result.sessions_for)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The facts frame (`analytics.frame.FRAME_COLUMNS`), the same as `sessions_frame` would make."""
        return facts_frame_from_columns(self.table)

    def first_ids(self, limit: int) -> list[str]:
        return [str(i) for i in self.table.column("id").slice(0, limit).to_pylist()]

    def key(self, secret: bytes) -> bytes:
        """`pseudonyms.dataset_key` of these sessions. Arrow sorts by UTF-8 bytes, which is code point
        order, the order of Python's `sorted` on the ids."""
        ids = self.table.column("id")
        ordered = ids.take(pc.sort_indices(ids))
        return dataset_key_of_sorted(secret, _strings(ordered))

    def aggregates(self, top: int = SUMMARY_TOP) -> dict[str, Any]:
        """`llm.prompts.aggregates` of these sessions, key for key and in the same order."""
        frame = self.frame
        categories = frame["category"].value_counts()
        severities = frame["severity"].value_counts()
        problems = (frame["category"] != Category.active.value).to_numpy(dtype=bool)
        utilization = frame["utilization"].dropna().astype("float64").tolist()
        percentiles: dict[str, float | None] = {
            k: (round(v, 4) if v is not None else None) for k, v in percentiles_of(utilization).items()
        }
        return {
            "total_sessions": len(frame),
            "counts_by_category": {c.value: int(categories.get(c.value, 0)) for c in Category},
            "counts_by_severity": {s.value: int(severities.get(s.value, 0)) for s in Severity},
            "top_workflows": _most_common(frame["workflow_id"][problems], top),
            "top_customers": _most_common(frame["customer_id"][problems], top),
            "utilization_percentiles": percentiles,
            "time_range": self._time_range(),
        }

    def _time_range(self) -> tuple[datetime | None, datetime | None]:
        # A session's ended_at is its cancelled_at or its expires_at, so these three hold every stamp.
        lows, highs = [], []
        for name in ("created_at", "expires_at", "cancelled_at"):
            bounds = pc.min_max(self.table.column(name))
            if bounds["min"].is_valid:
                lows.append(bounds["min"].as_py().astimezone(UTC))
                highs.append(bounds["max"].as_py().astimezone(UTC))
        return (min(lows) if lows else None, max(highs) if highs else None)

    def representative(self, n: int = SUMMARY_EXAMPLES) -> list[tuple[ChatKitSession, Diagnosis]]:
        """`llm.prompts.representative` of these sessions; only the picked ones are built."""
        frame = self.frame
        if frame.empty:
            return []
        rank = _ranks(frame["severity"])
        minus_util = -frame["utilization"].fillna(0).to_numpy(dtype=float)
        category = frame["category"].cat.codes.to_numpy()
        order = np.lexsort((minus_util, rank))
        # The rule orders by (rank, -utilization, id). Rows past the first n + one per category in
        # (rank, -utilization) cannot be picked; ties at the boundary are all kept, for the id.
        last = order[min(n + len(Category), len(order)) - 1]
        wanted = (rank < rank[last]) | ((rank == rank[last]) & (minus_util <= minus_util[last]))
        for code in np.unique(category):  # each category's best (rank, -utilization), with its ties
            first = order[np.flatnonzero(category[order] == code)[0]]
            wanted |= (category == code) & (rank == rank[first]) & (minus_util == minus_util[first])
        rows = np.flatnonzero(wanted)
        ids = frame["session_id"].to_numpy(dtype=object)
        names = frame["category"].cat.categories
        candidates = sorted((rank[i], minus_util[i], str(ids[i]), str(names[category[i]])) for i in rows)
        picked = pick_representative([(c[2], c[3]) for c in candidates], n)
        built = {s.id: s for s in self.sessions_for(picked)}
        return [(built[i], diagnose(built[i])) for i in picked]

    def rows_at_or_above(self, severity: Severity | None) -> np.ndarray:
        """Positions of the sessions whose diagnosis is `severity` or worse, in import order (none
        for None)."""
        if severity is None:
            return np.array([], dtype=np.int64)
        return np.flatnonzero(_ranks(self.frame["severity"]) <= SEVERITY_RANK[severity])

    def diagnoses(self, rows: np.ndarray) -> Iterator[dict[str, Any]]:
        """`diagnose(session).model_dump(mode="json")` of the sessions at `rows`, from the columns
        (tests/analytics/test_columnar_rules.py holds them equal), a chunk of rows at a time."""
        sessions = self.table.select(SESSION_SCHEMA.names)
        fields = list(Diagnosis.model_fields)
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = sessions.take(pa.array(rows[start : start + CHUNK_ROWS], type=pa.int64()))
            for row in diagnose_columns(chunk).to_pylist():
                yield {name: row[name] for name in fields}


def _ranks(severity: pd.Series) -> np.ndarray:
    """`SEVERITY_RANK` of each row, from the categorical's codes (a diagnosis always has a severity)."""
    of_code = np.array([SEVERITY_RANK[Severity(name)] for name in severity.cat.categories])
    return of_code[severity.cat.codes.to_numpy()]


def _most_common(values: pd.Series, top: int) -> list[tuple[str, int]]:
    """`Counter(v or "(none)").most_common(top)`: by count, ties in order of first appearance."""
    keys = values.astype("string").fillna(NONE_LABEL).replace("", NONE_LABEL)
    codes, uniques = pd.factorize(keys, sort=False)
    if not len(uniques):
        return []
    counts = np.bincount(codes)
    order = np.argsort(-counts, kind="stable")[:top]
    return [(str(uniques[i]), int(counts[i])) for i in order]


def _strings(values: pa.ChunkedArray) -> Iterator[str]:
    for chunk in values.chunks:
        for start in range(0, len(chunk), CHUNK_ROWS):
            yield from chunk.slice(start, CHUNK_ROWS).to_pylist()
