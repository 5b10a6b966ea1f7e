"""Batch report: analyze many sessions in a background job, follow it, download the results."""

import streamlit as st

from chatkit.domain.access import Action
from chatkit.web import batch, caches
from chatkit.web.nav import page_link
from chatkit.web.setup import page_setup
from chatkit.web.state import carry_params
from chatkit.web.widgets import PICK_LIMIT, no_dataset_message

ctx = page_setup("batch")

st.title("Batch report")
st.caption(
    "A batch runs in the background: you can leave this page, reload it or open it in another browser; "
    "progress is kept in the store. Stop keeps what is done."
)

# Read once per run: whether the job exists decides both sections below.
job = ctx.store.get_job(ctx.job_id, with_results=False) if ctx.job_id else None
if ctx.job_id:
    if job is None:
        st.error(
            f"Batch job `{ctx.job_id}` does not exist in this store. Start a new batch below or open a "
            "past job from the list.",
            icon=":material/search_off:",
        )
    else:
        batch.follow_job(ctx, job)
        job = ctx.store.get_job(job.id)  # with its results, and any progress made meanwhile
        if job is not None and job.finished:
            batch.job_outcome(ctx, job)
        page_link("batch", "Start another batch", ":material/add:", carry_params(job=None))

if job is None:
    st.subheader("New batch")
    if not ctx.may(Action.BATCH):
        st.info(
            "Only admins can start a batch (it costs LLM calls). Past batches are below.",
            icon=":material/lock:",
        )
    elif ctx.dataset is None:
        no_dataset_message(ctx)
    else:
        frame = caches.filtered_frame(ctx.dataset.id, ctx.filters_json, ctx.store)
        scope = st.radio(
            "Sessions to analyze",
            ["All sessions matching the current filters", "Sessions I pick"],
            horizontal=True,
        )
        skip_active = st.checkbox("Leave out active sessions (nothing went wrong with them)", value=True)
        candidates = frame[frame["status"] != "active"] if skip_active else frame
        if scope == "Sessions I pick":
            picked = st.multiselect(
                "Sessions",
                candidates["session_id"].head(PICK_LIMIT).tolist(),
                placeholder="Type to search session ids",
            )
            chosen = list(picked)
        else:
            chosen = candidates["session_id"].tolist()
        st.caption(batch.batch_estimate(ctx, len(chosen)))
        if st.button("Start batch", type="primary", icon=":material/play_arrow:", disabled=not chosen):
            job_id = batch.start_job(ctx, chosen)
            st.query_params["job"] = job_id
            st.rerun()

st.subheader("Past batches")
batch.past_jobs(ctx)
