"""The dashboard's pages and the links between them.

Links use the page files' paths, which work whether the router in app.py ran or a page file runs on
its own (a deep link on a freshly started server, streamlit#9624): then there is no page registry,
and a plain Markdown link to the page's URL stands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from chatkit.domain.access import Action

APP_TITLE = "ChatKit Session Analytics"

# Page key -> file.
PAGE_FILES = {
    "import": "pages/import_data.py",
    "overview": "pages/overview.py",
    "session": "pages/session.py",
    "batch": "pages/batch_report.py",
    "settings": "pages/settings.py",
    "audit": "pages/audit.py",
}
# Every page: (page, title, icon), in the order a newcomer uses them. The router in app.py, the menu
# page_setup draws and each page's browser tab all read it here.
MENU = [
    ("import", "Import", ":material/upload_file:"),
    ("overview", "Overview", ":material/monitoring:"),
    ("session", "Session", ":material/manage_search:"),
    ("batch", "Batch report", ":material/summarize:"),
    ("settings", "Settings", ":material/settings:"),
    ("audit", "Audit", ":material/policy:"),
]
# Pages only some roles may open: page_setup refuses them (deep links too), the menu hides them.
PAGE_ACTIONS = {"audit": Action.VIEW_AUDIT}


def page_url(page: str) -> str:
    """The page's path on the server, e.g. `/overview`."""
    return "/" + PurePosixPath(PAGE_FILES[page]).stem


def page_link(page: str, label: str, icon: str, query_params: Mapping[str, Any] | None = None) -> None:
    """`st.page_link`, or a plain link when a page runs on its own and has no page registry."""
    try:
        st.page_link(PAGE_FILES[page], label=label, icon=icon, query_params=query_params)
    except StreamlitPageNotFoundError:
        query = urlencode(dict(query_params or {}), doseq=True)
        st.markdown(f"[{label}]({page_url(page)}{'?' + query if query else ''})")


def switch_page(page: str, query_params: Mapping[str, Any]) -> None:
    """`st.switch_page`; a page running on its own stays where it is, with the new parameters."""
    try:
        st.switch_page(PAGE_FILES[page], query_params=query_params)
    except StreamlitPageNotFoundError:
        st.query_params.from_dict(query_params)
        st.rerun()
