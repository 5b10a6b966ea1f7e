"""Plotly figures for the Overview page, built from the sessions frame (`chatkit.analytics.frame`).

Every function returns a `plotly.graph_objects.Figure` and never raises on empty input: it returns an
empty figure whose annotation says which data is missing. Point charts carry the session id in
`customdata` (a click or box selection can narrow the session table); bar charts carry their group key.
Category colours are the same in every chart (`CATEGORY_COLORS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from chatkit.analytics.frame import CATEGORIES, ENDED_CATEGORIES, MISSING_LABEL, counts_over_time
from chatkit.domain.text import plotly_text

CATEGORY_COLORS: dict[str, str] = {
    "rate_limited": "#D1495B",
    "ttl_expired": "#EDAE49",
    "cancelled_manually": "#00798C",
    "active": "#66A182",
    "undetermined": "#8D99AE",
}
CATEGORY_LABELS: dict[str, str] = {
    "rate_limited": "rate limited",
    "ttl_expired": "TTL expired",
    "cancelled_manually": "cancelled manually",
    "active": "active",
    "undetermined": "undetermined",
}
WEBGL_THRESHOLD = 5_000  # above this many points, scatter traces use WebGL (Scattergl)
LINE_COLOR = "#444444"
_BOX_COLOR = "#5B7DB1"
TEMPLATE = "plotly_white"


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        xaxis_title=x_title,
        yaxis_title=y_title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        height=420,
        hoverlabel={"namelength": -1},
    )
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    """A blank chart that says what is missing instead of drawing nothing."""
    fig = go.Figure()
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left"},
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=420,
        annotations=[
            {
                "text": message,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
                "font": {"size": 14, "color": "#666666"},
            }
        ],
    )
    return fig


def _scatter_class(points: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if points > WEBGL_THRESHOLD else go.Scatter


def _category_points(
    rows: pd.DataFrame, x: str, y: str, hovertemplate: str, extra: Sequence[str] = ()
) -> list[go.Scatter | go.Scattergl]:
    """One marker trace per category present, in the fixed category order, with session ids in customdata.

    customdata[0] is the id as it is (a selection reads it back), customdata[1] the id as hover text
    (`plotly_text`: Plotly reads `<a href>` in it), then `extra`.
    """
    cls = _scatter_class(len(rows))
    traces = []
    category = rows["category"].astype(str)
    for name in CATEGORIES:
        part = rows[category == name]
        if part.empty:
            continue
        ids = part["session_id"].astype(str).to_numpy(dtype=object)
        custom = np.column_stack(
            [ids, np.array([plotly_text(i) for i in ids], dtype=object)]
            + [part[c].astype(object).to_numpy(dtype=object) for c in extra]
        )
        traces.append(
            cls(
                x=part[x].astype("float64").to_numpy(),
                y=part[y].astype("float64").to_numpy(),
                mode="markers",
                name=CATEGORY_LABELS[name],
                legendgroup=name,
                marker={"color": CATEGORY_COLORS[name], "size": 7, "opacity": 0.7},
                customdata=custom,
                hovertemplate=hovertemplate,
            )
        )
    return traces


def _diagonal(upper: float, name: str) -> go.Scatter:
    return go.Scatter(
        x=[0, upper],
        y=[0, upper],
        mode="lines",
        name=name,
        line={"color": LINE_COLOR, "dash": "dash", "width": 1.5},
        hoverinfo="skip",
    )


def requests_vs_limit(frame: pd.DataFrame) -> go.Figure:
    """Requests in the last minute against the per-minute limit; points above the y = x line were over."""
    title = "Requests vs limit per session"
    rows = frame[frame["requests"].notna() & frame["rate_limit"].notna()]
    if not rows.empty:
        # Preformatted, so a limit of 0 reads "undefined (limit 0)" rather than "NaN%".
        share = (rows["utilization"].astype("float64") * 100).round()
        rows = rows.assign(
            utilization_text=[f"{v:.0f} %" if pd.notna(v) else "undefined (limit 0)" for v in share]
        )
    if rows.empty:
        return empty_figure(
            title,
            "No session has both current_requests and max_requests_per_1_minute,<br>"
            "so requests cannot be compared with the limit.",
        )
    fig = go.Figure(
        _category_points(
            rows,
            "rate_limit",
            "requests",
            "<b>%{customdata[1]}</b><br>%{y} requests vs limit %{x}/min"
            "<br>utilization %{customdata[2]}<extra>%{fullData.name}</extra>",
            extra=("utilization_text",),
        )
    )
    upper = float(max(rows["requests"].max(), rows["rate_limit"].max())) * 1.05 or 1.0
    fig.add_trace(_diagonal(upper, "limit (y = x)"))
    return _layout(fig, title, "Limit (requests per minute)", "Requests in the last minute")


def _workflow_keys(workflows: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per row, the rank of its workflow among the sorted names; a missing one is `MISSING_LABEL`."""
    codes, uniques = pd.factorize(workflows, sort=True)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        if MISSING_LABEL not in labels:
            labels.append(MISSING_LABEL)
        codes = np.where(codes < 0, labels.index(MISSING_LABEL), codes)
    names = sorted(labels)
    rank = {label: i for i, label in enumerate(names)}
    return np.array([rank[label] for label in labels], dtype="int64")[codes], names


def utilization_by_workflow(frame: pd.DataFrame) -> go.Figure:
    """Utilization (% of the limit) per workflow as box plots, with a line at 100 %."""
    title = "Utilization of the rate limit by workflow"
    utilization = frame["utilization"]
    known = utilization.notna().to_numpy(dtype=bool)
    if not known.any():
        return empty_figure(
            title,
            "No session has a utilization: it needs current_requests and a limit above 0.",
        )
    positions = np.flatnonzero(known)
    percent = utilization.to_numpy(dtype="float64", na_value=np.nan)[known] * 100
    keys, names = _workflow_keys(frame["workflow_id"])
    keys = keys[known]
    # Rows grouped by workflow in one sort, not one comparison of every row per workflow; no text
    # column of a million rows is copied (that take was most of this chart's cost).
    order = np.argsort(keys, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(keys[order])) + 1]
    groups = np.split(order, starts[1:])
    names = [names[keys[order[i]]] for i in starts]
    fig = go.Figure()
    large = len(percent) > WEBGL_THRESHOLD
    for name, at in zip(names, groups, strict=True):
        values = percent[at]
        if large:
            # Precomputed quartiles keep the spec small for big data sets (no per-point payload).
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            iqr = q3 - q1
            fig.add_trace(
                go.Box(
                    name=plotly_text(name),  # the tick label and hover text: Plotly reads HTML there
                    q1=[q1],
                    median=[median],
                    q3=[q3],
                    lowerfence=[max(values.min(), q1 - 1.5 * iqr)],
                    upperfence=[min(values.max(), q3 + 1.5 * iqr)],
                    marker_color=_BOX_COLOR,
                    showlegend=False,
                )
            )
        else:
            ids = frame["session_id"].iloc[positions[at]].astype(str).to_numpy(dtype=object)
            fig.add_trace(
                go.Box(
                    y=values,
                    name=plotly_text(name),
                    boxpoints="outliers",
                    marker_color=_BOX_COLOR,
                    customdata=np.column_stack([ids, np.array([plotly_text(i) for i in ids], dtype=object)]),
                    hovertemplate="<b>%{customdata[1]}</b><br>%{y:.0f} % of the limit<extra>%{x}</extra>",
                    showlegend=False,
                )
            )
    fig.add_hline(
        y=100,
        line={"color": CATEGORY_COLORS["rate_limited"], "dash": "dash", "width": 1.5},
        annotation_text="limit (100 %)",
        annotation_position="top left",
    )
    return _layout(fig, title, "Workflow", "Utilization (% of the per-minute limit)")


def ttl_vs_time_to_end(frame: pd.DataFrame) -> go.Figure:
    """How long each ended session lived against its TTL; points on or above y = x reached the TTL."""
    title = "TTL vs time to cancel/expire"
    rows = frame[frame["ttl_s"].notna() & frame["time_to_end_s"].notna()]
    if rows.empty:
        return empty_figure(
            title,
            "No ended session has both a TTL and a time to end:<br>"
            "it needs created_at, cancelled_at (or expires_at) and ttl_seconds (or expires_at).",
        )
    fig = go.Figure(
        _category_points(
            rows,
            "ttl_s",
            "time_to_end_s",
            "<b>%{customdata[1]}</b><br>ended after %{y:.0f} s; TTL %{x} s<extra>%{fullData.name}</extra>",
        )
    )
    upper = float(max(rows["ttl_s"].max(), rows["time_to_end_s"].max())) * 1.05 or 1.0
    fig.add_trace(_diagonal(upper, "TTL reached (y = x)"))
    return _layout(fig, title, "TTL (seconds)", "Time from creation to cancel/expiry (seconds)")


def cancellations_over_time(frame: pd.DataFrame, freq: str = "h") -> go.Figure:
    """Ended sessions per hour ("h") or day ("D"), stacked by category."""
    unit = {"h": "hour", "H": "hour", "D": "day", "d": "day"}.get(freq, freq)
    title = f"Cancellations per {unit} by category"
    table = counts_over_time(frame, freq)
    if table.empty:
        return empty_figure(
            title,
            "No ended session has a time: it needs cancelled_at, expires_at or created_at.",
        )
    fig = go.Figure()
    for name in ENDED_CATEGORIES:
        fig.add_trace(
            go.Bar(
                x=table["time"],
                y=table[name],
                name=CATEGORY_LABELS[name],
                marker_color=CATEGORY_COLORS[name],
                hovertemplate=f"%{{x}}<br>%{{y}} {CATEGORY_LABELS[name]}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", bargap=0.1, legend_traceorder="normal")
    return _layout(fig, title, f"Time (UTC, per {unit})", "Ended sessions")


def top_cancellations(frame: pd.DataFrame, by: str = "workflow_id", top: int = 10) -> go.Figure:
    """The `top` workflows or customers with the most ended sessions, stacked by category."""
    noun = {"workflow_id": "workflows", "customer_id": "customers"}.get(by, by)
    title = f"Top {noun} by cancellations"
    if by not in frame.columns:
        return empty_figure(title, f"The sessions table has no column {by!r}.")
    keys = frame[by].astype("string").fillna(MISSING_LABEL)
    # One count per (key, category) serves both the ranking and the bars: a crosstab of every
    # ended session cost a second at 1,000,000 sessions.
    counted = (
        pd.DataFrame({by: keys, "category": frame["category"]})
        .groupby([by, "category"], sort=False, observed=True, dropna=False)
        .size()
        .unstack("category", fill_value=0)
    )
    counts = counted.reindex(columns=CATEGORIES, fill_value=0)
    ranked = pd.DataFrame(
        {
            by: counts.index.astype(str),
            "count": counted.sum(axis=1).to_numpy(),
            "cancellations": counts[ENDED_CATEGORIES].sum(axis=1).to_numpy(),
        }
    )
    if not ranked["cancellations"].any():
        return empty_figure(title, "No ended (cancelled or expired) sessions to count.")
    # The same ranking (and tie-breaks) as the summary tables (`frame.counts_by`).
    ranked = ranked.sort_values(["cancellations", "count", by], ascending=[False, False, True])
    order = ranked.loc[ranked["cancellations"] > 0, by].head(top).tolist()
    table = counts.reindex(
        index=order[::-1],  # horizontal bars draw bottom-up: biggest on top
        columns=ENDED_CATEGORIES,
        fill_value=0,
    )
    names = table.index.astype(str).to_numpy(dtype=object)  # y stays the key: a click reads it back
    labels = np.array([plotly_text(n) for n in names], dtype=object)  # what is drawn: ticks, hover
    fig = go.Figure()
    for name in ENDED_CATEGORIES:
        fig.add_trace(
            go.Bar(
                x=table[name].to_numpy(),
                y=names,
                orientation="h",
                name=CATEGORY_LABELS[name],
                marker_color=CATEGORY_COLORS[name],
                customdata=labels,
                hovertemplate=f"<b>%{{customdata}}</b><br>%{{x}} {CATEGORY_LABELS[name]}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(type="category", tickmode="array", tickvals=names, ticktext=labels)
    return _layout(fig, title, "Ended sessions (cancelled or expired)", noun.capitalize())
