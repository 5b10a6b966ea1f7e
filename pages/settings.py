"""Settings: read-only status of the configuration, the store and the LLM connection."""

import streamlit as st

from chatkit.analytics import tables
from chatkit.domain.access import Action
from chatkit.domain.text import markdown_text
from chatkit.web import settings_page as view
from chatkit.web.nav import page_link
from chatkit.web.setup import page_setup

ctx = page_setup("settings")

st.title("Settings")
st.caption(
    "Read-only. Change settings with environment variables, a `.env` file or `.streamlit/secrets.toml` "
    "(see the README's configuration table), then restart the app."
)

public = ctx.settings.public_view()
provider_col, store_col = st.columns(2)
with provider_col:
    st.subheader("Analyzer")
    st.dataframe(tables.download_safe(view.analyzer_table(public)), hide_index=True, width="stretch")
    # A test is one LLM call: it spends the key's budget, so it is an admin's, as analyses are.
    if ctx.may(Action.ANALYZE) and st.button("Test connection", icon=":material/network_check:"):
        ok, message = view.check_connection(ctx)
        if ok:
            st.success(markdown_text(message), icon=":material/check_circle:")
        else:
            st.error(
                f"{markdown_text(message)}. Check `LLM_BASE_URL`, `LLM_MODEL` and `LLM_API_KEY`.",
                icon=":material/error:",
            )

with store_col:
    st.subheader("Store")
    st.code(public["store"], language=None, wrap_lines=True)
    st.dataframe(tables.download_safe(view.store_table(ctx)), hide_index=True, width="stretch")

if ctx.may(Action.VIEW_AUDIT):  # who did what is for admins: on its own page, with filters
    page_link("audit", "Who analyzed, imported or deleted what: the Audit page", ":material/policy:")
