"""The router: the pages of `chatkit.web.nav.MENU`, with their titles and icons. Pages and `chatkit` do the rest.

Every page calls `chatkit.web.setup.page_setup()` itself, so nothing here is needed when a deep link runs a
page file on its own (streamlit#9624). The menu is drawn by page_setup (same in both cases, and its
links carry the data set and filters), so Streamlit's own menu is hidden.
"""

import streamlit as st

from chatkit.web.nav import MENU, PAGE_FILES

st.navigation(
    [
        st.Page(PAGE_FILES[page], title=title, icon=icon, default=page == "overview")
        for page, title, icon in MENU
    ],
    position="hidden",
).run()
