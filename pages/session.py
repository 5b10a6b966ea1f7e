"""Session: one session's facts, its deterministic diagnosis and its report."""

import streamlit as st

from chatkit.analytics import tables
from chatkit.domain.access import Action
from chatkit.domain.rules import diagnose
from chatkit.domain.text import ECHO_CHARS, markdown_code, markdown_text
from chatkit.reports.analyzer import render_report_markdown
from chatkit.web import session as view
from chatkit.web.nav import page_link
from chatkit.web.setup import page_setup
from chatkit.web.state import carry_params
from chatkit.web.widgets import no_dataset_message

ctx = page_setup("session")

st.title("Session")
if ctx.dataset is None:
    no_dataset_message(ctx)
    st.stop()

view.session_picker(ctx)
if ctx.session_id is None:
    st.info("Pick a session above (type to search by id), or open one from the Overview's table.")
    st.stop()

session = view.chosen_session(ctx)
if session is None:
    st.warning(
        f"Session {markdown_code(ctx.session_id, limit=ECHO_CHARS)} is not in the data set "
        f"**{markdown_text(ctx.dataset.name)}**. Pick another one above.",
        icon=":material/search_off:",
    )
    st.stop()

diagnosis = diagnose(session)
facts_col, diagnosis_col = st.columns([2, 3])
with facts_col:
    st.subheader("Facts")
    facts = tables.download_safe(tables.facts_table(session, diagnosis))
    st.dataframe(facts, hide_index=True, width="stretch", height="content")
with diagnosis_col:
    st.subheader("Diagnosis")
    view.diagnosis_card(diagnosis)

st.subheader("Report")
again = ctx.may(Action.REANALYZE) and st.button(
    "Analyze again",
    icon=":material/refresh:",
    help="Ask the analyzer again, bypassing the cache (costs one LLM call when a key is configured).",
)
report = view.session_report(ctx, session, fresh=again)
if report is not None:
    view.report_meta(report)
    with st.container(border=True):
        markdown = render_report_markdown(report, allow_hosts=ctx.settings.render_link_allow_hosts)
        st.markdown(tables.demoted(markdown, levels=1))

with st.expander("Raw JSON (secrets removed at import)"):
    st.json(session.model_dump(mode="json", exclude_none=True))

page_link("overview", "Back to the Overview", ":material/arrow_back:", carry_params(sid=None))
