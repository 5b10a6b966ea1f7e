"""The URL is the single source of truth for what a page shows: reading and writing it.

Data set, filters, session and job live in the query parameters, so a copied link reopens the same
view in a fresh browser. Widgets are views of the URL: each run sets their state from
`st.query_params`, and their `on_change` callbacks write the new value back. What the parameters
mean (`LinkState` ↔ params, validation, notices) is pure and lives in `chatkit.web.links`.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from chatkit.web.links import STREAMLIT_PARAMS, LinkState, carried, link_params, parse_link
from chatkit.web.nav import page_url


def current_params() -> dict[str, list[str]]:
    """The URL's parameters, every value of each."""
    return {key: st.query_params.get_all(key) for key in st.query_params}


def read_link() -> LinkState:
    """What the URL asks to show (unchecked against the store; notices say what was ignored)."""
    return parse_link(current_params())


def write_link(state: LinkState) -> None:
    """Replace the URL's parameters (Streamlit's own are kept) only when they differ."""
    wanted = link_params(state)
    for key in STREAMLIT_PARAMS:
        if key in st.query_params:
            wanted[key] = st.query_params.get_all(key)
    if wanted != current_params():
        st.query_params.from_dict(wanted)


def replace_params(params: dict[str, list[str]] | dict[str, str]) -> None:
    """Set the URL to exactly `params` (a widget's callback: the next run reads the new view)."""
    st.query_params.from_dict(params)


def carry_params(**changes: str | None) -> dict[str, list[str]]:
    """The current view's parameters for a link to another page, with `changes` applied (None drops)."""
    return carried(current_params(), **changes)


def share_link(page: str) -> str:
    """The full URL of the current view; relative when the browser's address is unknown (tests)."""
    query = urlencode([(k, v) for k, vs in current_params().items() for v in vs])
    base = st.context.url or page_url(page)
    return f"{base}?{query}" if query else base
