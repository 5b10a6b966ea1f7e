"""Overview: KPIs, the five charts, the session table they narrow, and the what-if panel."""

import streamlit as st

from chatkit.analytics import tables
from chatkit.web import overview as ov
from chatkit.web.setup import page_setup
from chatkit.web.widgets import no_dataset_message

ctx = page_setup("overview")

st.title("Overview")
if ctx.dataset is None:
    no_dataset_message(ctx)
    st.stop()
st.caption(ov.dataset_caption(ctx))

kpis = ov.kpis(ctx)
if not kpis.get("sessions"):
    st.info(
        "No session matches the filters. Clear some filters in the sidebar to see data again.",
        icon=":material/filter_alt_off:",
    )
    st.stop()
ov.kpi_tiles(kpis)

# Each chart: a title, one line on what to read from it, and the chart; selections narrow the table.
picked: list[tables.ChartPick | None] = []
left, right = st.columns(2)
with left:
    picked.append(
        ov.chart(
            ctx,
            "requests_vs_limit",
            "Requests vs limit",
            "Each dot is a session; dots above the dashed line used more requests than their per-minute "
            "limit. Select dots to list those sessions.",
        )
    )
with right:
    picked.append(
        ov.chart(
            ctx,
            "utilization_by_workflow",
            "Utilization by workflow",
            "Requests as a share of the limit; boxes reaching past the 100 % line are workflows whose "
            "limit is too tight.",
        )
    )
left, right = st.columns(2)
with left:
    picked.append(
        ov.chart(
            ctx,
            "ttl_vs_time_to_end",
            "TTL vs time to cancel / expire",
            "Sessions on the diagonal ran out their lifetime (TTL); those far below ended early for "
            "another reason.",
        )
    )
with right:
    ov.chart_title(
        "Cancellations over time",
        "Stacked by diagnosis: a spike of one colour points at one cause. Drag across bars to list "
        "the sessions of those hours.",
    )
    bucket = st.segmented_control(
        "Bucket", ["per hour", "per day"], default="per hour", key="ov_bucket", label_visibility="collapsed"
    )
    freq = "D" if bucket == "per day" else "h"
    picked.append(ov.chart_figure(ctx, "cancellations_over_time", "Cancellations over time", freq=freq))

left, right = st.columns(2)
with left:
    picked.append(
        ov.chart(
            ctx,
            "top_cancellations",
            "Top workflows by cancellations",
            "Where cancellations concentrate; click a bar to list that workflow's sessions.",
            by="workflow_id",
        )
    )
with right:
    picked.append(
        ov.chart(
            ctx,
            "top_cancellations",
            "Top customers by cancellations",
            "A single customer on top often means one integration misbehaving.",
            by="customer_id",
        )
    )

st.subheader("Sessions")
ov.session_table(ctx, picked, freq)

ov.what_if_panel(ctx)
