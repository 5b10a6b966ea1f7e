"""Sessions and their diagnoses as one typed pandas DataFrame, plus the aggregations charts and summaries use.

One row per session, one column per fact (`FRAME_COLUMNS`). Columns are built from plain lists in one
pass, never row by row, so 100,000 sessions stay quick. Utilization is a ratio (1.17 = 117 %).
A session's time for filters and time buckets is when it ended, else when it was created.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from chatkit.analytics.stats import percentiles_of
from chatkit.domain.models import Category, ChatKitSession, Diagnosis, Severity
from chatkit.domain.rules import diagnose_all

FRAME_COLUMNS: list[str] = [
    "session_id",
    "status",
    "category",
    "severity",
    "confidence",
    "workflow_id",
    "workflow_version",
    "customer_id",
    "rate_limit",
    "requests",
    "utilization",
    "overage",
    "ttl_s",
    "created_at",
    "ended_at",
    "time_to_end_s",
    "reason",
    "has_config_warning",
    "flags",
]
STATUSES = ["active", "expired", "cancelled"]
CATEGORIES = [c.value for c in Category]
SEVERITIES = [s.value for s in Severity]  # ordered: info < warning < critical
# Ended sessions are the "cancellations" of the charts: every category but active.
ENDED_CATEGORIES = [c for c in CATEGORIES if c != Category.active]
# How a missing workflow/customer shows in counts; filtering on it selects the missing rows.
MISSING_LABEL = "(unknown)"
_TEXT_COLUMNS = ("session_id", "workflow_id", "workflow_version", "customer_id", "reason", "flags")

_DTYPES: dict[str, object] = {
    "session_id": "string",
    "status": pd.CategoricalDtype(STATUSES),
    "category": pd.CategoricalDtype(CATEGORIES),
    "severity": pd.CategoricalDtype(SEVERITIES, ordered=True),
    "confidence": "Float64",
    "workflow_id": "string",
    "workflow_version": "string",
    "customer_id": "string",
    "rate_limit": "Int64",
    "requests": "Int64",
    "utilization": "Float64",
    "overage": "Int64",
    "ttl_s": "Int64",
    "created_at": "datetime64[ns, UTC]",
    "ended_at": "datetime64[ns, UTC]",
    "time_to_end_s": "Float64",
    "reason": "string",
    "has_config_warning": "boolean",
    "flags": "string",
}


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=_DTYPES[c]) for c in FRAME_COLUMNS})


def sessions_frame(
    sessions: Sequence[ChatKitSession], diagnoses: Sequence[Diagnosis] | None = None
) -> pd.DataFrame:
    """One typed row per session. `diagnoses` (same order) are computed when not given.

    `flags` holds the diagnosis flags joined by ", " ("" when none).
    """
    if diagnoses is None:
        diagnoses = diagnose_all(sessions)
    elif len(diagnoses) != len(sessions):
        raise ValueError(f"{len(sessions)} sessions but {len(diagnoses)} diagnoses")
    if not sessions:
        return empty_frame()

    cols: dict[str, list] = {c: [] for c in FRAME_COLUMNS}
    # Bound methods once: this loop runs per session and is most of the frame's cost.
    (
        a_id, a_status, a_cat, a_sev, a_conf, a_wf, a_ver, a_cust, a_limit, a_req, a_util, a_over,
        a_ttl, a_created, a_ended, a_tte, a_reason, a_warn, a_flags,
    ) = (cols[c].append for c in FRAME_COLUMNS)  # fmt: skip
    for s, d in zip(sessions, diagnoses, strict=True):
        wf = s.workflow
        a_id(s.id)
        a_status(s.status)
        a_cat(d.category.value)
        a_sev(d.severity.value)
        a_conf(d.confidence)
        a_wf(wf.id if wf else None)
        a_ver(wf.version if wf else None)
        a_cust(s.customer_id)
        a_limit(s.rate_limit)
        a_req(s.current_requests)
        a_util(d.utilization)
        a_over(d.overage)
        a_ttl(d.ttl_s)
        a_created(s.created_at)
        a_ended(s.ended_at)
        a_tte(d.time_to_end_s)
        a_reason(s.reason)
        a_warn(bool(s.config_warnings()))
        a_flags(", ".join(d.flags))

    data = {name: pd.array(cols[name], dtype=_DTYPES[name]) for name in FRAME_COLUMNS}
    return pd.DataFrame(data, columns=FRAME_COLUMNS)


class Filters(BaseModel):
    """What a share link carries. Every part is optional; an empty Filters selects everything."""

    model_config = ConfigDict(extra="ignore")

    categories: list[str] = []
    workflows: list[str] = []
    customers: list[str] = []
    statuses: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    search: str = ""

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def is_empty(self) -> bool:
        return self == Filters()


def event_time(frame: pd.DataFrame) -> pd.Series:
    """When a session ended, else when it was created (NaT when neither is known)."""
    return frame["ended_at"].fillna(frame["created_at"])


def apply_filters(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows matching every given filter. Time bounds are inclusive and use `event_time`."""
    mask = pd.Series(True, index=frame.index)
    for column, wanted in (
        ("category", filters.categories),
        ("workflow_id", filters.workflows),
        ("customer_id", filters.customers),
        ("status", filters.statuses),
    ):
        if wanted:
            hit = frame[column].isin(wanted).fillna(False).astype(bool)
            if MISSING_LABEL in wanted:
                hit |= frame[column].isna()
            mask &= hit
    if filters.start is not None or filters.end is not None:
        when = event_time(frame)
        if filters.start is not None:
            mask &= (when >= pd.Timestamp(filters.start)).fillna(False).astype(bool)
        if filters.end is not None:
            mask &= (when <= pd.Timestamp(filters.end)).fillna(False).astype(bool)
    needle = filters.search.strip()
    if needle:
        found = pd.Series(False, index=frame.index)
        for column in ("session_id", "workflow_id", "customer_id", "reason"):
            found |= frame[column].str.contains(needle, case=False, regex=False).fillna(False).astype(bool)
        mask &= found
    return frame[mask]


def _ended(frame: pd.DataFrame) -> pd.Series:
    return frame["category"].isin(ENDED_CATEGORIES)


def kpis(frame: pd.DataFrame) -> dict[str, float | int | None]:
    """Headline numbers. Percentages are 0-100 of all sessions; utilization values are ratios."""
    total = len(frame)
    pct = (lambda count: 100.0 * count / total) if total else (lambda count: None)
    util = utilization_percentiles(frame, (50, 95))
    category = frame["category"]
    return {
        "sessions": total,
        "cancelled_pct": pct(int((frame["status"] == "cancelled").sum())),
        "rate_limited_pct": pct(int((category == Category.rate_limited).sum())),
        "ttl_expired_pct": pct(int((category == Category.ttl_expired).sum())),
        "undetermined_pct": pct(int((category == Category.undetermined).sum())),
        "utilization_median": util["p50"],
        "utilization_p95": util["p95"],
    }


def counts_by(frame: pd.DataFrame, column: str, top: int | None = None) -> pd.DataFrame:
    """Per value of `column`: `count` (all sessions) and `cancellations` (ended: not active).

    Sorted by cancellations, then count, then value; missing values show as `MISSING_LABEL`.
    """
    if column not in frame.columns:
        raise KeyError(f"no column {column!r} in the sessions frame")
    keys = frame[column].astype("string").fillna(MISSING_LABEL)
    grouped = pd.DataFrame({column: keys, "count": 1, "cancellations": _ended(frame).astype("int64")})
    out = grouped.groupby(column, sort=False, observed=True).sum().reset_index()
    out = out.sort_values(["cancellations", "count", column], ascending=[False, False, True])
    if top is not None:
        out = out.head(top)
    return out.reset_index(drop=True).astype({column: "string", "count": "int64", "cancellations": "int64"})


def counts_over_time(frame: pd.DataFrame, freq: str = "h") -> pd.DataFrame:
    """Ended sessions per time bucket and category: a `time` column, then one column per ended category.

    Buckets are contiguous from the first to the last (empty ones count 0); `freq` is a pandas
    frequency such as "h", "D" or "15min". Sessions without any time are left out.
    """
    freq = {"H": "h", "d": "D"}.get(freq, freq)
    # Only the three columns needed are taken (not every column of the ended rows), and counted
    # with a groupby on the categorical: at 1,000,000 sessions the crosstab of text cost a second.
    when = event_time(frame)
    known = (_ended(frame) & when.notna()).to_numpy(dtype=bool)
    if not known.any():
        return pd.DataFrame(
            {"time": pd.Series([], dtype="datetime64[ns, UTC]")}
            | {c: pd.Series([], dtype="int64") for c in ENDED_CATEGORIES}
        )
    buckets = when[known].dt.floor(freq)
    table = (
        pd.DataFrame({"time": buckets, "category": frame["category"][known]})
        .groupby(["time", "category"], observed=True)
        .size()
        .unstack("category", fill_value=0)
    )
    table.columns = table.columns.astype(str)
    full = pd.date_range(buckets.min(), buckets.max(), freq=freq, name="time")
    table = table.reindex(index=full, columns=ENDED_CATEGORIES, fill_value=0).astype("int64")
    table.columns.name = None
    return table.reset_index()


def utilization_percentiles(
    frame: pd.DataFrame, percentiles: Sequence[float] = (50, 90, 95, 99)
) -> dict[str, float | None]:
    """`{"p50": 0.8, ...}` over sessions with a known utilization (ratio); None when there are none."""
    return percentiles_of(frame["utilization"].dropna().astype("float64").tolist(), percentiles)
