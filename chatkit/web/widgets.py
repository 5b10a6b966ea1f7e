"""The few pieces of UI that several pages really share: the empty state and the sample data."""

from __future__ import annotations

import streamlit as st

from chatkit.domain import sample
from chatkit.store import Store, datasets
from chatkit.web.nav import page_link, switch_page
from chatkit.web.setup import PageContext

SAMPLE_SIZE = 300
PICK_LIMIT = 1000  # most sessions offered in a pick list (Session, Batch report); any id can be typed


def load_sample(store: Store) -> str:
    """Save the built-in sample data set and return its id (the same id every time)."""
    return datasets.save_dataset(
        store,
        f"Sample data ({SAMPLE_SIZE} sessions)",
        sample.sample_sessions(SAMPLE_SIZE),
        ["built-in sample"],
    )


def no_dataset_message(ctx: PageContext) -> None:
    """The empty state of the pages that need data (Overview, Session, Batch report)."""
    if ctx.datasets:  # a link to a deleted data set: others exist, none is chosen
        text = (
            f"No data set is chosen. Pick one of the {len(ctx.datasets):,} stored data sets in the "
            "sidebar, import new exports, or load the built-in sample."
        )
    else:
        text = (
            "There is no data set to show yet. Import ChatKit session exports (JSON, JSONL or CSV) or "
            "load the built-in sample to see every chart at once."
        )
    st.info(text, icon=":material/info:")
    left, right = st.columns([1, 3])
    if left.button("Load sample data", type="primary", icon=":material/science:", key="empty_sample"):
        dataset_id = load_sample(ctx.store)
        ctx.audit("import", detail="built-in sample", dataset_id=dataset_id)
        switch_page("overview", {"ds": dataset_id})
    with right:
        page_link("import", "Go to Import", ":material/upload_file:")
