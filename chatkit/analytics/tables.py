"""What the dashboard shows as tables, rows and labels, built from plain data without Streamlit.

Each function takes sessions, a facts frame (`chatkit.analytics.frame`) or stored dicts and returns a DataFrame,
a string or a small dict, ready for a widget. Nothing here mutates its input: the frames come from
Streamlit's caches, which must never be changed in place.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from chatkit.analytics import frame
from chatkit.domain.models import ChatKitSession, Diagnosis, ImportIssue
from chatkit.domain.text import csv_cell

# ---------------------------------------------------------------------------------------------
# Every table the dashboard shows
# ---------------------------------------------------------------------------------------------


def download_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` whose text cells and column names a spreadsheet would not run as formulas.

    Streamlit's table toolbar would download exactly what is displayed (it is off in
    .streamlit/config.toml, but a launch that skips that file has it back), so the display frame
    itself is neutralized (`csv_cell`: a leading `'` before `=`, `+`, `-`, `@`, also behind NBSP or BOM).
    Only text columns change: numbers, times and booleans keep their types and formats.
    """
    out = df.rename(columns=lambda c: csv_cell(c) if isinstance(c, str) else c)
    for column in out.columns[[not is_numeric_or_time(out[c]) for c in out.columns]]:
        out[column] = out[column].map(csv_cell, na_action="ignore")
    return out


def table_csv(df: pd.DataFrame) -> bytes:
    """The CSV (UTF-8) a table's own download button sends: every text cell and column name
    formula-neutral (`csv_cell`), times in ISO 8601, missing values empty, numbers as they are.

    By column, each distinct value converted once (`_csv_value`), then pandas' writer (the `csv`
    module's quoting, `\\r\\n` as `csv.writer`): a million-row table in seconds, not a minute of
    Python per cell holding the GIL while every page waits."""
    columns = {}
    for index, name in enumerate(df.columns):
        column = df[name]
        if column.dtype.kind in "biuf" and not isinstance(column.dtype, pd.CategoricalDtype):
            columns[index] = column  # numbers (and booleans) as they are; missing ones empty
            continue
        try:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
        except TypeError:  # unhashable cells (a list): each converted by itself
            columns[index] = column.map(_csv_value)
            continue
        distinct = pd.Series(uniques, dtype=object)
        # Text that starts with an ASCII letter or digit is its own cell (`csv_cell` looks at the
        # first visible character): only the rest, and anything not text, is converted one by one.
        texts = pd.api.types.infer_dtype(distinct, skipna=True) == "string"
        plain = (
            distinct.str.match(r"[A-Za-z0-9]").to_numpy(dtype=bool)
            if texts
            else np.zeros(len(distinct), dtype=bool)
        )
        cells = np.empty(len(distinct) + 1, dtype=object)
        cells[:-1][plain] = distinct[plain].to_numpy()
        cells[:-1][~plain] = [_csv_value(v) for v in distinct[~plain]]
        cells[-1] = ""  # code -1: missing
        columns[index] = pd.Series(cells[codes], index=column.index)
    body = pd.DataFrame(columns)
    return body.to_csv(
        index=False, header=[csv_cell(str(c)) for c in df.columns], lineterminator="\r\n"
    ).encode()


def _csv_value(value: Any) -> Any:
    if pd.api.types.is_scalar(value) and pd.isna(value):  # None, NaN, NA and NaT
        return ""
    if isinstance(value, datetime):  # pandas' Timestamp too
        return value.isoformat()
    if isinstance(value, numbers.Number):  # numpy's too; a negative number is not a formula
        return value
    return csv_cell(str(value))  # anything else is written as its text, so its text is checked


def is_numeric_or_time(series: pd.Series) -> bool:
    kind = series.dtype.kind
    return kind in "biufcmM" or isinstance(series.dtype, pd.DatetimeTZDtype)


# ---------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------


@runtime_checkable
class _FramedIssues(Protocol):
    """Issues that make this table from their own columns (`chatkit.ingest.issue_columns`: ingest
    and analytics are sibling layers, so it is named by what it can do)."""

    def frame(self) -> pd.DataFrame: ...


def issues_table(issues: Sequence[ImportIssue]) -> pd.DataFrame:
    """Import errors or warnings as a table: file, row, session, field, message."""
    if isinstance(issues, _FramedIssues):  # a file import's warnings: no object per row
        return issues.frame()
    return pd.DataFrame(
        [
            {
                "file": i.file,
                "row": i.location,
                "session": i.session_id or "",
                "field": i.field or "",
                "message": i.message,
            }
            for i in issues
        ],
        columns=["file", "row", "session", "field", "message"],
    )


def sessions_preview(sessions: Sequence[ChatKitSession], limit: int = 200) -> pd.DataFrame:
    """The first `limit` sessions read, with the fields that show whether the import went right."""
    return pd.DataFrame(
        [
            {
                "id": s.id,
                "status": s.status,
                "workflow": s.workflow_id,
                "customer": s.customer_id,
                "limit/min": s.rate_limit,
                "requests": s.current_requests,
                "ttl s": s.ttl,
                "reason": s.reason,
            }
            for s in sessions[:limit]
        ]
    )


def default_dataset_name(files: Sequence[str]) -> str:
    """A name for a new data set from the files it came from."""
    names = [f for f in files if f]
    if not names:
        return "Imported sessions"
    return names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"


# ---------------------------------------------------------------------------------------------
# One session
# ---------------------------------------------------------------------------------------------


def picker_labels(df: pd.DataFrame) -> list[str]:
    """`id · diagnosis · workflow` for each row of a facts frame, for the session pick list."""
    return [
        f"{sid} · {cat} · {wf if isinstance(wf, str) and wf else 'no workflow'}"  # wf may be pd.NA
        for sid, cat, wf in zip(df["session_id"], df["category"], df["workflow_id"], strict=True)
    ]


def facts_table(session: ChatKitSession, diagnosis: Diagnosis) -> pd.DataFrame:
    """The facts support staff ask about first, as text (one column of mixed values)."""
    history = " → ".join(
        f"{c.status or '?'}" + (f" ({c.observed_at:%H:%M:%S})" if c.observed_at else "")
        for c in session.status_history
    )
    rows = [
        ("id", session.id),
        ("status", session.status),
        ("status history", history),
        ("workflow", session.workflow_id),
        ("workflow version", session.workflow.version if session.workflow else None),
        ("customer", session.customer_id),
        ("limit per minute", session.rate_limit),
        ("requests", session.current_requests),
        ("utilization", f"{diagnosis.utilization:.0%}" if diagnosis.utilization is not None else None),
        ("TTL (s)", session.ttl),
        ("created (UTC)", f"{session.created_at:%Y-%m-%d %H:%M:%S}" if session.created_at else None),
        ("ended (UTC)", f"{session.ended_at:%Y-%m-%d %H:%M:%S}" if session.ended_at else None),
        (
            "time to end (s)",
            f"{diagnosis.time_to_end_s:,.0f}" if diagnosis.time_to_end_s is not None else None,
        ),
        ("reason", session.reason),
        ("configuration warnings", "; ".join(session.config_warnings())),
    ]
    return pd.DataFrame(
        [(name, "—" if value in (None, "") else str(value)) for name, value in rows],
        columns=["fact", "value"],
    )


def percent_label(value: float) -> str:
    """A KPI percentage that fits a tile six to a row: one decimal only where it matters (< 10 %)."""
    return f"{value:.1f} %" if abs(value) < 9.95 else f"{value:.0f} %"


def demoted(markdown: str, levels: int = 2) -> str:
    """Report Markdown starts at `#`; inside a page its headings sit below the page's own."""
    return re.sub(r"^(#{1,4}) ", lambda m: "#" * min(6, len(m.group(1)) + levels) + " ", markdown, flags=re.M)


# ---------------------------------------------------------------------------------------------
# Overview: chart points, chart selections and the session table they narrow
# ---------------------------------------------------------------------------------------------

# Point charts draw at most this many sessions: beyond it the browser gets megabytes per rerun
# and the dots only overlap more. Ended sessions (what an incident review looks at) go in first.
# 10,000 rather than 20,000: each drawn point costs escaping its id and copying the figure (about
# 0.1 s per chart per 10,000 at 1,000,000 sessions), on a cold run that aims at 3 s.
MAX_POINTS = 10_000
POINT_CHARTS = ("requests_vs_limit", "ttl_vs_time_to_end")


def drawn_rows(df: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """All rows when they fit; else every ended session (sampled if even those do not fit), topped
    up with a sample of active ones. Deterministic, so a rerun draws the same dots.

    Positions are chosen with numpy and the frame is taken once: at 1,000,000 sessions, taking the
    ended rows and the rest as frames of their own (every column) cost most of a second per chart.
    """
    limit = MAX_POINTS if limit is None else limit  # read when called: the page's caption reads it too
    if len(df) <= limit:
        return df
    ended = df["category"].isin(frame.ENDED_CATEGORIES).to_numpy(dtype=bool)
    ended_at, rest_at = np.flatnonzero(ended), np.flatnonzero(~ended)
    rng = np.random.default_rng(0)
    if len(ended_at) >= limit:
        chosen = np.sort(rng.choice(ended_at, limit, replace=False))
    else:
        extra = np.sort(rng.choice(rest_at, limit - len(ended_at), replace=False))
        chosen = np.concatenate([ended_at, extra])
    return df.iloc[chosen]


# A pick on the time chart holds time buckets, not values of a frame column.
BUCKET = "_bucket"


@dataclass(frozen=True)
class ChartPick:
    """What a selection on a chart narrows the table to: rows whose `column` is in `values`."""

    title: str
    column: str
    values: tuple[Any, ...]

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        return df[df[self.column].isin(self.values)]


def chart_pick(title: str, name: str, options: Mapping[str, Any], selection: Any) -> ChartPick | None:
    """What the user selected on chart `name` (drawn with `options`), from Plotly's selection event."""
    points = list((selection or {}).get("points") or [])
    if not points:
        return None
    if name == "top_cancellations":
        # Horizontal or vertical bars: the label is whichever axis is categorical.
        labels = {str(p.get("y") if isinstance(p.get("x"), (int, float)) else p.get("x")) for p in points}
        return ChartPick(title, options.get("by", "workflow_id"), tuple(sorted(labels)))
    ids = {str(_first(p.get("customdata"))) for p in points if p.get("customdata") is not None}
    if ids:
        return ChartPick(title, "session_id", tuple(sorted(ids)))
    if name == "cancellations_over_time":
        buckets = {pd.Timestamp(p["x"]) for p in points if p.get("x") is not None}
        return ChartPick(title, BUCKET, tuple(sorted(buckets))) if buckets else None
    return None


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) and value else value


def narrowed(df: pd.DataFrame, picks: Sequence[ChartPick], freq: str) -> pd.DataFrame:
    """The rows every pick keeps; time buckets are `freq` wide, as the time chart drew them."""
    for pick in picks:
        if pick.column == BUCKET:
            bucket = frame.event_time(df).dt.tz_localize(None).dt.floor(freq)
            df = df[bucket.isin([pd.Timestamp(b).tz_localize(None) for b in pick.values])]
        else:
            df = pick.apply(df)
    return df


TABLE_LIMIT = 1000  # rows the session table shows; its download has every matching row
TABLE_COLUMNS = [
    "session_id",
    "status",
    "category",
    "severity",
    "workflow_id",
    "customer_id",
    "rate_limit",
    "requests",
    "utilization",
    "ttl_s",
    "time_to_end_s",
    "created_at",
    "reason",
]


def session_rows(df: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The session table: at most `limit` rows, worst first, then newest; utilization to 2 places.

    Ties keep the frame's order; a missing severity or creation time sorts last. The order is
    computed on two integer keys and only the rows shown are taken: sorting the whole frame (every
    column of 1,000,000 rows) to show a thousand of them was most of the table's cost.
    """
    limit = TABLE_LIMIT if limit is None else limit
    # `severity` is an ordered categorical (info < warning < critical); code -1 is missing.
    codes = df["severity"].cat.codes.to_numpy(dtype="int64")
    worst_first = np.where(codes < 0, np.iinfo("int64").max, -codes)
    created = df["created_at"]
    stamps = created.to_numpy(dtype="datetime64[ns]").view("int64")
    newest_first = np.where(created.isna().to_numpy(), np.iinfo("int64").max, -stamps)
    order = np.lexsort((newest_first, worst_first))[:limit]  # stable: ties keep the frame's order
    columns = [c for c in TABLE_COLUMNS if c in df.columns]
    table = df.iloc[order][columns].reset_index(drop=True)
    return table.assign(utilization=table["utilization"].round(2))


# ---------------------------------------------------------------------------------------------
# What-if
# ---------------------------------------------------------------------------------------------


def what_if_bounds(df: pd.DataFrame, workflow: str | None = None) -> dict[str, int]:
    """Slider ranges from the data: today's (median) limit and TTL, and a ceiling above what was seen."""
    if workflow is not None:
        df = df[df["workflow_id"] == workflow]

    def number(series: pd.Series, how: str, default: float) -> float:
        values = pd.to_numeric(series, errors="coerce").dropna()
        return float(getattr(values, how)()) if len(values) else default

    limit_now = max(1, round(number(df["rate_limit"], "median", 10)))
    limit_max = max(limit_now * 2, round(number(df["requests"], "max", 0) * 1.2), 10)
    ttl_now = max(1, round(number(df["ttl_s"], "median", 600)))
    ttl_max = max(ttl_now * 2, round(number(df["time_to_end_s"], "max", 0) * 1.2), 600)
    return {
        "limit_now": limit_now,
        "limit_max": int(limit_max),
        "ttl_now": ttl_now,
        "ttl_max": int(min(ttl_max, 7 * 86400)),
    }


def threshold_table(thresholds: Mapping[str, Any]) -> pd.DataFrame:
    """Smallest limit and TTL avoiding 50 / 90 / 99 % of the cancellations that can be judged."""
    rows = []
    for key, label, unit in (("limit", "per-minute limit", ""), ("ttl_s", "TTL", " s")):
        values = thresholds.get(key) or {}
        rows.append(
            {"smallest … that avoids": label}
            | {f"{p[1:]} %": (f"{v:,}{unit}" if v is not None else "—") for p, v in values.items()}
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Batch jobs
# ---------------------------------------------------------------------------------------------

JOB_RESULT_COLUMNS = ["session", "category", "severity", "root cause", "tokens", "from cache", "error"]


def job_results_table(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-session rows read straight from the stored dicts (cheap enough to poll)."""
    rows = []
    for r in results:
        report = r.get("report") or {}
        diagnosis = report.get("diagnosis") or {}
        body = report.get("body") or {}
        rows.append(
            {
                "session": r["session_id"],
                "category": diagnosis.get("category", ""),
                "severity": (body or diagnosis).get("severity", ""),
                "root cause": ((body.get("root_cause") or {}).get("summary") if body else None)
                or report.get("raw_text")
                or "",
                "tokens": ((report.get("usage") or {}).get("total_tokens")) or 0,
                "from cache": bool(report.get("from_cache")),
                "error": r.get("error") or report.get("error") or "",
            }
        )
    return pd.DataFrame(rows, columns=JOB_RESULT_COLUMNS)
