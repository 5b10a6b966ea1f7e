"""`st.login` end to end: Chromium, a Streamlit app and a real OIDC provider, all on 127.0.0.1.

What Streamlit 1.67 does with a deep link (asserted below, so an upgrade that changes it shows up):
`st.login()` sends the browser to `/auth/login?provider=…`, then to the provider; the provider
redirects to `/oauth2callback?code=…&state=…`, and Streamlit answers that with a redirect to `/` —
always the root, with no query string. The page path and query parameters of the link that started
the sign-in are gone; the app restores them itself (see signin_app.py). `st.logout()` goes to the
provider's end_session endpoint with `post_logout_redirect_uri=<app>/oauth2callback`, which lands on
`/` again, signed out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from support import ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
expect.set_options(timeout=60_000)
# The fixtures' types (tests/web/oidc/conftest.py): Provider has .url, App has .url and .log.
Provider = App = Any

DEEP_LINK = "/report?ds=abc123&cat=rate_limited&cat=ttl_expired&sid=cksess_1"
APP_ENV = {"AUTH_ALLOWED_DOMAINS": "example.com", "AUTH_ADMIN_GROUP": "chatkit-admins"}


def sign_in_at_provider(page: Page, provider: Provider, sub: str) -> None:
    """On the mock's authorization page, the predefined user's button signs in as that user."""
    page.wait_for_url(f"{provider.url}/oauth2/authorize?**")
    page.get_by_role("button", name=sub, exact=True).click()


def app_urls(visited: list[str], app: App) -> list[str]:
    return [u for u in visited if u.startswith(app.url)]


def test_a_deep_link_survives_sign_in_and_sign_out_ends_the_session(
    browser: Browser, oidc_provider: Provider, signin_app: Callable[..., App]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    app = signin_app(**APP_ENV)
    context = browser.new_context()
    page = context.new_page()
    visited: list[str] = []
    # Every document request, redirects included (framenavigated would show only where they end).
    page.on("request", lambda r: visited.append(r.url) if r.is_navigation_request() else None)
    try:
        page.goto(app.url + DEEP_LINK)
        expect(page.get_by_role("heading", name="Sign in required")).to_be_visible()
        page.get_by_role("button", name="Sign in").click()
        sign_in_at_provider(page, oidc_provider, "alice@example.com")

        expect(page.get_by_text("Signed in as alice@example.com (viewer)")).to_be_visible()
        expect(page.get_by_role("heading", name="Report")).to_be_visible()
        expect(page).to_have_url(app.url + DEEP_LINK)
        shown = urlsplit(page.url)
        assert parse_qs(shown.query) == {
            "ds": ["abc123"],
            "cat": ["rate_limited", "ttl_expired"],
            "sid": ["cksess_1"],
        }

        # What Streamlit itself did: callback, then the bare root; the deep link came back from us.
        back = app_urls(visited, app)
        callback = next(i for i, u in enumerate(back) if u.startswith(app.url + "/oauth2callback?"))
        assert back[callback + 1].rstrip("/") == app.url, back
        assert {c["name"] for c in context.cookies()} >= {"_streamlit_user", "_streamlit_xsrf"}
        page.screenshot(path=str(ARTIFACTS / "oidc-signed-in.png"))

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{oidc_provider.url}/oauth2/end_session?**")
        assert parse_qs(urlsplit(page.url).query)["post_logout_redirect_uri"] == [app.url + "/oauth2callback"]
        page.get_by_role("button", name="End session").click()
        expect(page.get_by_role("heading", name="Sign in required")).to_be_visible()
        assert "_streamlit_user" not in {c["name"] for c in context.cookies()}
        page.reload()  # the identity cookie is gone: a fresh session is not signed in either
        expect(page.get_by_role("heading", name="Sign in required")).to_be_visible()
    finally:
        page.screenshot(path=str(ARTIFACTS / "oidc-last.png"))
        context.close()


def test_an_admin_gets_the_admin_role_and_an_outsider_is_refused(
    browser: Browser, oidc_provider: Provider, signin_app: Callable[..., App]
) -> None:
    app = signin_app(**APP_ENV)
    for sub, expected in [
        ("bob@example.com", "Signed in as bob@example.com (admin)"),  # through the group claim
        ("eve@evil-example.com", "Refused: eve@evil-example.com is not on this dashboard's allow-list"),
    ]:
        context = browser.new_context()  # a second person: nothing shared with the first
        page = context.new_page()
        try:
            page.goto(app.url + "/")
            page.get_by_role("button", name="Sign in").click()
            sign_in_at_provider(page, oidc_provider, sub)
            expect(page.get_by_text(expected)).to_be_visible()
        finally:
            context.close()
