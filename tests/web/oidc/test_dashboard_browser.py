"""The real dashboard (app.py) behind `st.login`, in Chromium, against oidc-provider-mock on 127.0.0.1.

Sign in as an allowed viewer and as an admin, open a share link as the very first request (sign-in,
then the same view), be refused as an outsider, sign out; and the audit trail those leave.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect
from support import ROOT

from chatkit.domain import sample
from chatkit.store import Store

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
APP = ROOT / "app.py"
APP_ENV = {"AUTH_ALLOWED_DOMAINS": "example.com", "AUTH_ADMIN_GROUP": "chatkit-admins"}
expect.set_options(timeout=60_000)
Provider = App = Any


def sign_in_at_provider(page: Page, provider: Provider, sub: str) -> None:
    page.wait_for_url(f"{provider.url}/oauth2/authorize?**")
    page.get_by_role("button", name=sub, exact=True).click()


def sign_in(page: Page, provider: Provider, sub: str) -> None:
    expect(page.get_by_text("Sign in required")).to_be_visible()
    page.get_by_role("button", name="Sign in").click()
    sign_in_at_provider(page, provider, sub)


def stored_sample(tmp_path: Path) -> tuple[str, str]:
    """A data set in the store the app will open (CHATKIT_DATA_DIR of the signin_app fixture)."""
    store = Store(f"sqlite:///{(tmp_path / 'data' / 'chatkit.db').resolve()}")
    try:
        sessions = sample.sample_sessions(40)
        return store.save_dataset("Shared sample", sessions, ["sample.json"]), sessions[3].id
    finally:
        store.close()


def audit_rows(tmp_path: Path) -> list[tuple[str, str, str]]:
    store = Store(f"sqlite:///{(tmp_path / 'data' / 'chatkit.db').resolve()}")
    try:
        return [(r["actor"], r["action"], r["outcome"]) for r in reversed(store.audit_log())]
    finally:
        store.close()


def test_a_share_link_opened_first_signs_in_then_shows_that_view_to_a_viewer(
    browser: Browser, oidc_provider: Provider, signin_app: Callable[..., App], tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (tmp_path / "data").mkdir()
    dataset_id, session_id = stored_sample(tmp_path)
    app = signin_app(APP, **APP_ENV)
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{app.url}/session?ds={dataset_id}&sid={session_id}")  # the very first request
        sign_in(page, oidc_provider, "alice@example.com")

        expect(page.get_by_text("Signed in as alice@example.com (viewer)")).to_be_visible()
        expect(page.get_by_role("heading", name="Session", exact=True)).to_be_visible()
        expect(page.get_by_text("Diagnosis", exact=True).first).to_be_visible()
        shown = urlsplit(page.url)
        assert shown.path == "/session" and parse_qs(shown.query) == {"ds": [dataset_id], "sid": [session_id]}
        expect(page.get_by_role("link", name="Audit")).to_have_count(0)  # not in a viewer's menu
        expect(page.get_by_role("button", name="Analyze again")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "dashboard-viewer.png"))

        page.goto(f"{app.url}/audit")  # a deep link to the admins' page
        expect(page.get_by_text("Not allowed: only admins may view audit")).to_be_visible()

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{oidc_provider.url}/oauth2/end_session?**")
        page.get_by_role("button", name="End session").click()
        expect(page.get_by_text("Sign in required")).to_be_visible()
    finally:
        page.screenshot(path=str(ARTIFACTS / "dashboard-last.png"))
        context.close()
    rows = audit_rows(tmp_path)
    assert ("alice@example.com", "sign_in", "ok") in rows
    assert ("alice@example.com", "refused", "refused") in rows
    assert ("alice@example.com", "sign_out", "ok") in rows


def test_an_admin_sees_the_audit_page_and_an_outsider_is_refused(
    browser: Browser, oidc_provider: Provider, signin_app: Callable[..., App], tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    stored_sample(tmp_path)
    app = signin_app(APP, **APP_ENV)
    admin = browser.new_context()  # two people, two browsers: nothing shared
    outsider = browser.new_context()
    try:
        page = admin.new_page()
        page.goto(f"{app.url}/audit")
        sign_in(page, oidc_provider, "bob@example.com")
        expect(page.get_by_text("Signed in as bob@example.com (admin)")).to_be_visible()
        expect(page.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
        assert urlsplit(page.url).path == "/audit"

        other = outsider.new_page()
        other.goto(app.url + "/")
        sign_in(other, oidc_provider, "eve@evil-example.com")
        expect(
            other.get_by_text("Refused: eve@evil-example.com is not on this dashboard's allow-list")
        ).to_be_visible()
        expect(other.get_by_text("Shared sample")).to_have_count(0)
    finally:
        admin.close()
        outsider.close()
    rows = audit_rows(tmp_path)
    assert ("bob@example.com", "sign_in", "ok") in rows
    assert ("eve@evil-example.com", "refused", "not_allowed") in rows
