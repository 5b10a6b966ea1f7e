"""The Overview page's parts: KPI tiles, charts that narrow the session table, the what-if panel."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from chatkit.analytics import tables
from chatkit.domain.text import markdown_code, markdown_text
from chatkit.web import caches, exports
from chatkit.web.nav import page_link
from chatkit.web.setup import PageContext
from chatkit.web.state import carry_params


def dataset_caption(ctx: PageContext) -> str:
    assert ctx.dataset is not None
    d = ctx.dataset
    text = f"**{markdown_text(d.name)}** · {d.session_count:,} sessions · imported {d.created_at:%Y-%m-%d %H:%M} UTC"
    return text + (" · filtered (see the sidebar)" if ctx.filtering else "")


def kpis(ctx: PageContext) -> dict[str, float | int | None]:
    assert ctx.dataset is not None
    return caches.kpis(ctx.dataset.id, ctx.filters_json, ctx.store)


def kpi_tiles(kpis: Mapping[str, float | int | None]) -> None:
    def pct(value: float | int | None) -> str:
        return "—" if value is None else tables.percent_label(value)

    def util(value: float | int | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    tiles = [
        ("Sessions", f"{int(kpis.get('sessions') or 0):,}", "sessions matching the filters"),
        ("Cancelled", pct(kpis.get("cancelled_pct")), "share of sessions cancelled"),
        ("Rate-limited", pct(kpis.get("rate_limited_pct")), "diagnosed as over the per-minute limit"),
        ("TTL expired", pct(kpis.get("ttl_expired_pct")), "diagnosed as running out their lifetime"),
        (
            "Median util.",
            util(kpis.get("utilization_median")),
            "utilization (requests / limit) of the median session",
        ),
        (
            "p95 util.",
            util(kpis.get("utilization_p95")),
            "95 % of sessions used at most this share of their limit",
        ),
    ]
    for column, (label, value, help_text) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, help=help_text, border=True)


def chart_title(title: str, caption: str) -> None:
    st.markdown(f"**{title}**")
    st.caption(caption)


def chart_figure(ctx: PageContext, name: str, title: str, **options: Any) -> tables.ChartPick | None:
    """One of `chatkit.analytics.charts`' figures; returns what the user selected on it, if anything."""
    assert ctx.dataset is not None
    figure = caches.figure(name, ctx.dataset.id, ctx.filters_json, ctx.store, **options)
    key = "chart_" + name + "".join(f"_{v}" for v in options.values())
    event = st.plotly_chart(
        figure,
        key=key,
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False},
    )
    return tables.chart_pick(title, name, options, event.selection if event else None)


def chart(ctx: PageContext, name: str, title: str, caption: str, **options: Any) -> tables.ChartPick | None:
    """Title, one line on what to read from it, and the figure."""
    assert ctx.dataset is not None
    if name in tables.POINT_CHARTS:
        count = int(kpis(ctx).get("sessions") or 0)
        if count > tables.MAX_POINTS:
            caption += (
                f" Showing {tables.MAX_POINTS:,} of {count:,} sessions (every ended one first, the rest "
                "a fixed sample); filter to see them all."
            )
    chart_title(title, caption)
    return chart_figure(ctx, name, title, **options)


def session_table(ctx: PageContext, picks: Sequence[tables.ChartPick | None], freq: str = "h") -> None:
    """The facts of the sessions the filters and chart selections leave; a row opens its session."""
    assert ctx.dataset is not None
    active = tuple(p for p in picks if p is not None)
    table, total = caches.session_table(ctx.dataset.id, ctx.filters_json, active, freq, ctx.store)
    if active:
        st.caption(
            "Narrowed by your selection on: "
            + ", ".join(f"**{p.title}** ({len(p.values):,})" for p in active)
            + ". Double-click a chart to clear its selection."
        )
    counted = (
        f"Showing {len(table):,} of {total:,} sessions: the most severe, then the newest; filter or "
        "select on a chart to narrow them, or download them all"
        if len(table) < total
        else f"{total:,} sessions"
    )
    st.caption(f"{counted}. Select a row to open its session.")
    event = st.dataframe(
        tables.download_safe(table),  # rows are read back from `table`, with the ids as they are
        key="ov_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=360,
        column_config={
            "session_id": st.column_config.TextColumn("session"),
            "utilization": st.column_config.NumberColumn("utilization", format="percent"),
            "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "ttl_s": st.column_config.NumberColumn("TTL s"),
            "time_to_end_s": st.column_config.NumberColumn("to end s", format="%.0f"),
            "rate_limit": st.column_config.NumberColumn("limit/min"),
        },
    )
    rows: pd.DataFrame | Callable[[], pd.DataFrame] = table
    if len(table) < total:  # every matching row, in the table's order, made when clicked
        every = caches.narrowed_frame(ctx.dataset.id, ctx.filters_json, active, freq, ctx.store)
        rows = functools.partial(tables.session_rows, every, limit=len(every))
    exports.table_download(
        ctx,
        rows,
        row_count=total,
        label=f"Download all {total:,} as CSV" if len(table) < total else "Download CSV",
        table="Overview session table",
        file_name=f"chatkit-sessions-{ctx.dataset.id[:8]}.csv",
        key="dl_ov_sessions",
        dataset_id=ctx.dataset.id,
    )
    rows = event.selection.rows if event else []
    if rows:
        session_id = str(table.iloc[rows[0]]["session_id"])
        page_link(
            "session",
            f"Open session {markdown_code(session_id)}",
            ":material/open_in_new:",
            carry_params(sid=session_id),
        )


_ALL_WORKFLOWS = "All workflows"


def what_if_panel(ctx: PageContext) -> None:
    """Sliders for a limit and a TTL; the counts update live (a fragment: the charts do not rerun)."""
    assert ctx.dataset is not None
    dataset_id, filters_json, store = ctx.dataset.id, ctx.filters_json, ctx.store
    workflows = caches.filter_options(dataset_id, store)["workflows"]
    st.subheader("What if")
    st.caption(
        "Try another per-minute limit or TTL and see how many of the cancellations in this data "
        "would not have happened. Computed from the sessions, not estimated."
    )

    @st.fragment
    def panel() -> None:
        choice = st.selectbox("Workflow", [_ALL_WORKFLOWS, *workflows], key="wi_workflow")
        workflow = None if choice == _ALL_WORKFLOWS else choice
        bounds = caches.what_if_bounds(dataset_id, filters_json, workflow, store)
        limit_col, ttl_col = st.columns(2)
        limit = limit_col.slider(
            "Per-minute limit",
            1,
            bounds["limit_max"],
            value=bounds["limit_now"],
            key=f"wi_limit_{choice}",
            help=f"Today's median limit: {bounds['limit_now']}",
        )
        ttl_s = ttl_col.slider(
            "TTL (seconds)",
            1,
            bounds["ttl_max"],
            value=bounds["ttl_now"],
            key=f"wi_ttl_{choice}",
            help=f"Today's median TTL: {bounds['ttl_now']} s",
        )
        result = caches.what_if(dataset_id, filters_json, store, limit, ttl_s, workflow)
        avoided_limit, avoided_ttl = limit_col.columns(1)[0], ttl_col.columns(1)[0]
        avoided_limit.metric(
            "Rate-limit cancellations avoided",
            f"{result.rate_limited_avoided:,} of {result.rate_limited_total:,}",
            border=True,
        )
        avoided_ttl.metric(
            "TTL cancellations avoided", f"{result.ttl_avoided:,} of {result.ttl_total:,}", border=True
        )
        st.caption(result.describe())
        quotes = caches.quotes(dataset_id, filters_json, store, workflow)
        if quotes:
            quoted = "\n".join(f"- {markdown_text(q)}" for q in quotes)
            st.markdown("**What would have prevented them**\n" + quoted)
        thresholds = tables.threshold_table(caches.thresholds(dataset_id, filters_json, store, workflow))
        st.dataframe(tables.download_safe(thresholds), hide_index=True)
        exports.table_download(
            ctx,
            thresholds,
            table=f"What-if thresholds ({choice})",
            file_name=f"chatkit-thresholds-{dataset_id[:8]}.csv",
            key="dl_ov_thresholds",
            dataset_id=dataset_id,
        )

    panel()
