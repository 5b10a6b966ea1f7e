"""The router: which pages exist, with their titles and icons. Pages and `chatkit` do the rest.

Every page calls `chatkit.ui.page_setup()` itself, so nothing here is needed when a deep link runs a
page file on its own (streamlit#9624). The menu is drawn by page_setup (same in both cases, and its
links carry the data set and filters), so Streamlit's own menu is hidden.
"""

import streamlit as st

st.navigation(
    [
        st.Page("pages/import_data.py", title="Import", icon=":material/upload_file:"),
        st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("pages/session.py", title="Session", icon=":material/manage_search:"),
        st.Page("pages/batch_report.py", title="Batch report", icon=":material/summarize:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ],
    position="hidden",
).run()
