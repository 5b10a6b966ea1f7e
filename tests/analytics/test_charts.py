"""Figures checked from their data: trace types, reference lines, colours, counts, empty states."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from chatkit.analytics import charts
from chatkit.analytics.charts import CATEGORY_COLORS, CATEGORY_LABELS, WEBGL_THRESHOLD
from chatkit.analytics.frame import ENDED_CATEGORIES, counts_by, counts_over_time, empty_frame, sessions_frame
from chatkit.domain.models import Category
from chatkit.domain.sample import sample_sessions

ALL_CHARTS = [
    charts.requests_vs_limit,
    charts.utilization_by_workflow,
    charts.ttl_vs_time_to_end,
    charts.cancellations_over_time,
    charts.top_cancellations,
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sessions_frame(sample_sessions(300, seed=7))


def test_category_colours_cover_every_category():
    assert set(CATEGORY_COLORS) == {c.value for c in Category}
    assert len(set(CATEGORY_COLORS.values())) == len(CATEGORY_COLORS)


def _points(fig: go.Figure) -> list:
    return [t for t in fig.data if t.mode == "markers"]


def test_requests_vs_limit(frame):
    fig = charts.requests_vs_limit(frame)
    assert {t.type for t in _points(fig)} == {"scatter"}
    rows = frame[frame["requests"].notna() & frame["rate_limit"].notna()]
    assert sum(len(t.x) for t in _points(fig)) == len(rows)
    for trace in _points(fig):
        category = next(k for k, v in CATEGORY_LABELS.items() if v == trace.name)
        assert trace.marker.color == CATEGORY_COLORS[category]
        ids = {row[0] for row in trace.customdata}
        assert ids <= set(rows.loc[rows["category"] == category, "session_id"])
        assert "customdata[1]" in trace.hovertemplate  # the id as hover text; [0] is read back on select
    (line,) = [t for t in fig.data if t.mode == "lines"]
    assert list(line.x) == list(line.y)  # y = x
    assert line.x[0] == 0
    assert line.x[1] >= rows["requests"].max()
    assert fig.layout.template.layout.paper_bgcolor == "white"
    assert "per minute" in fig.layout.xaxis.title.text


def test_points_follow_the_frame(frame):
    fig = charts.requests_vs_limit(frame)
    trace = next(t for t in fig.data if t.name == CATEGORY_LABELS["rate_limited"])
    by_id = frame.set_index("session_id")
    for (session_id, _, _), x, y in zip(trace.customdata, trace.x, trace.y, strict=True):
        assert by_id.loc[session_id, "rate_limit"] == x
        assert by_id.loc[session_id, "requests"] == y
        assert y > x or by_id.loc[session_id, "reason"] is not pd.NA


def test_hover_shows_utilization_and_survives_limit_zero(frame):
    fig = charts.requests_vs_limit(frame)
    texts = {row[2] for t in _points(fig) for row in t.customdata}
    assert "undefined (limit 0)" in texts  # the sample has sessions with a limit of 0
    s1 = next(t for t in _points(fig) if t.name == CATEGORY_LABELS["rate_limited"]).customdata[0]
    row = frame.set_index("session_id").loc[s1[0]]
    assert s1[2] == f"{row['utilization'] * 100:.0f} %"


def test_scattergl_above_threshold():
    big = sessions_frame(sample_sessions(WEBGL_THRESHOLD * 2, seed=3))
    fig = charts.requests_vs_limit(big)
    assert {t.type for t in _points(fig)} == {"scattergl"}
    assert {t.type for t in _points(charts.ttl_vs_time_to_end(big))} == {"scattergl"}
    # the big box plot ships quartiles, not every point
    box = charts.utilization_by_workflow(big)
    assert all(t.type == "box" and t.y is None and t.q1 is not None for t in box.data)


def test_utilization_by_workflow(frame):
    fig = charts.utilization_by_workflow(frame)
    assert all(t.type == "box" for t in fig.data)
    assert sorted(t.name for t in fig.data) == sorted(frame["workflow_id"].dropna().unique())
    total = sum(len(t.y) for t in fig.data)
    assert total == frame["utilization"].notna().sum()
    (shape,) = fig.layout.shapes
    assert shape.y0 == shape.y1 == 100


def test_ttl_vs_time_to_end(frame):
    fig = charts.ttl_vs_time_to_end(frame)
    rows = frame[frame["ttl_s"].notna() & frame["time_to_end_s"].notna()]
    assert sum(len(t.x) for t in _points(fig)) == len(rows)
    (line,) = [t for t in fig.data if t.mode == "lines"]
    assert list(line.x) == list(line.y)
    assert "seconds" in fig.layout.xaxis.title.text


@pytest.mark.parametrize("freq", ["h", "D"])
def test_cancellations_over_time_matches_counts(frame, freq):
    fig = charts.cancellations_over_time(frame, freq)
    table = counts_over_time(frame, freq)
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == [CATEGORY_LABELS[c] for c in ENDED_CATEGORIES]
    for trace, category in zip(fig.data, ENDED_CATEGORIES, strict=True):
        assert trace.type == "bar"
        assert trace.marker.color == CATEGORY_COLORS[category]
        assert list(trace.y) == table[category].tolist()
    ended_with_time = frame[frame["category"] != "active"]
    ended_with_time = ended_with_time[
        ended_with_time["ended_at"].notna() | ended_with_time["created_at"].notna()
    ]
    assert sum(sum(t.y) for t in fig.data) == len(ended_with_time)


@pytest.mark.parametrize("by", ["workflow_id", "customer_id"])
def test_top_cancellations_matches_counts(frame, by):
    fig = charts.top_cancellations(frame, by=by, top=5)
    expected = counts_by(frame, by).head(5)
    totals: dict[str, int] = {}
    for trace in fig.data:
        assert trace.type == "bar"
        assert trace.orientation == "h"
        for name, x in zip(trace.y, trace.x, strict=True):
            totals[name] = totals.get(name, 0) + int(x)
        assert list(trace.customdata) == list(trace.y)
    assert totals == dict(zip(expected[by], expected["cancellations"], strict=True))
    assert list(fig.data[0].y)[-1] == expected[by].iloc[0]  # largest bar on top


@pytest.mark.parametrize("chart", ALL_CHARTS)
def test_empty_frame_gives_an_explaining_figure(chart):
    fig = chart(empty_frame())
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    (annotation,) = fig.layout.annotations
    assert annotation.text


def test_missing_fields_are_named():
    api_only = (
        sessions_frame(sample_sessions(300, seed=7)).assign(requests=pd.NA).astype({"requests": "Int64"})
    )
    fig = charts.requests_vs_limit(api_only)
    assert "current_requests" in fig.layout.annotations[0].text
    assert charts.top_cancellations(empty_frame(), by="nope").layout.annotations[0].text


def test_only_active_sessions_is_empty_for_cancellation_charts(frame):
    active = frame[frame["category"] == "active"]
    assert len(charts.cancellations_over_time(active).data) == 0
    assert len(charts.top_cancellations(active).data) == 0


def test_labels_from_data_are_shown_not_obeyed_by_plotly(frame):
    """Plotly reads `<a href>`, `<img>`-ish tags and entities in tick labels, trace names and hover
    text: every id, workflow and customer name reaches a figure through plotly_text, while the keys
    a selection reads back (bar y values, customdata[0]) stay the data's own."""
    hostile = '<a href="http://127.0.0.1:9/x">click</a>&amp;'
    df = frame.assign(
        session_id=[f"{hostile}{i}" for i in range(len(frame))], workflow_id=hostile, customer_id=hostile
    )
    figures = [
        charts.requests_vs_limit(df),
        charts.utilization_by_workflow(df),
        charts.ttl_vs_time_to_end(df),
        charts.top_cancellations(df, by="workflow_id"),
        charts.top_cancellations(df, by="customer_id"),
    ]
    for fig in figures:
        shown = [fig.layout.yaxis.ticktext or (), *(getattr(t, "name", None) or "" for t in fig.data)]
        for trace in fig.data:
            if trace.customdata is not None:
                shown += [row[1] if not isinstance(row, str) else row for row in trace.customdata]
        text = " ".join(str(v) for v in shown)
        assert "<a " not in text and "href" not in text.replace("&lt;a href", "")
    bars = figures[3].data[0]
    assert set(bars.y) == {hostile} and "&lt;a href" in bars.customdata[0]
    assert list(figures[3].layout.yaxis.ticktext) == [
        '&lt;a href="http://127.0.0.1:9/x"&gt;click&lt;/a&gt;&amp;amp;'
    ]
    points = [row for t in figures[0].data if t.customdata is not None for row in t.customdata]
    assert points and all(row[0].startswith(hostile) and row[1].startswith("&lt;a") for row in points)
