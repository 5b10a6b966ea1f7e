"""A tiny Streamlit app (not the dashboard) that signs in with `st.login` and keeps a deep link.

Run by tests/web/oidc with `.streamlit/secrets.toml` `[auth]` generated for a mock provider. Two
pages, so a deep link has a path and query parameters to lose. What it shows the test:
"Signed in as <email> (<role>)", the page's query parameters, a Sign out button; or the refusal.

Streamlit's callback always lands on `/` with no query string, so the link is kept before
`st.login()` in a process-wide `ReturnLinks`, keyed by a hash of the token in Streamlit's XSRF cookie
(the browser carries it through the round trip), and reopened with `st.switch_page` once signed in.
The dashboard does the same in its page setup, with these helpers (chatkit.web.identity).
"""

from __future__ import annotations

import streamlit as st

from chatkit.domain.access import Identity, Policy, allowed, role_of
from chatkit.settings import load_settings
from chatkit.web.identity import browser_key, return_links  # the dashboard's own, moved from here


def home() -> None:
    st.title("Home")


def report() -> None:
    st.title("Report")
    st.write("Query:", {k: st.query_params.get_all(k) for k in st.query_params})


PAGES = {
    "home": st.Page(home, title="Home", url_path="home", default=True),
    "report": st.Page(report, title="Report", url_path="report"),
}
page = st.navigation(list(PAGES.values()), position="hidden")
BY_PATH = {p.url_path: p for p in PAGES.values()}  # the default page's url_path is ''

settings = load_settings()
policy = Policy.from_settings(settings, oidc_configured="auth" in st.secrets)
key = browser_key()

if not st.user.is_logged_in:
    if key:
        return_links().put(key, page.url_path, {k: st.query_params.get_all(k) for k in st.query_params})
    st.title("Sign in required")
    st.button("Sign in", on_click=st.login, type="primary")
    st.stop()

identity = Identity.from_claims(st.user.to_dict(), group_claim=policy.admin_group_claim)
decision = allowed(identity, policy)
if not decision:
    st.title("Not allowed")
    st.text(f"Refused: {decision.reason}")
    st.button("Sign out", on_click=st.logout)
    st.stop()

if key and not st.session_state.get("return_checked"):
    st.session_state["return_checked"] = True  # once per session: later navigation is the user's
    link = return_links().take(key)
    if link is not None and link.page in BY_PATH and (link.page != page.url_path or link.params):
        st.switch_page(BY_PATH[link.page], query_params=link.as_dict())  # pairs would drop repeats

# st.text, not Markdown: claims are the provider's (and the user's) text, never markup.
st.sidebar.text(f"Signed in as {identity.who} ({role_of(identity, policy).value})")
st.sidebar.button("Sign out", on_click=st.logout)
page.run()
