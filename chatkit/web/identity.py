"""Who is using this browser session: the one function of ours that reads the signed-in user.

Everything in the web face that needs the person (the gate, roles, audit rows) asks
`current_identity()`; nothing else reads `st.user`, the password flag or the client address. That
is also what lets tests set the person: Streamlit's AppTest cannot fake `st.user`, so a test turns
on `use_test_identities()` and puts an `Identity` in the session state under `TEST_IDENTITY`. The
switch is a process-wide flag that only test code sets; a browser cannot reach it (a session-state
key with no widget behind it cannot be written from the client).

Also here, because they identify the browser: the key for the return link across the OIDC round
trip (moved from the tests/web/oidc harness) and the keys the password throttle counts under.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from chatkit.domain.access import Identity, Mode, Policy, ReturnLinks
from chatkit.domain.access.return_to import ReturnLink

TEST_IDENTITY = "_chatkit_test_identity"
PASSWORD_OK = "_chatkit_password_ok"


@dataclass
class _TestHook:
    enabled: bool = False
    address: str = "127.0.0.1"  # AppTest has no client: it stands for a browser on this machine


_test_hook = _TestHook()


def use_test_identities(enabled: bool = True, *, address: str = "127.0.0.1") -> None:
    """Tests only: honour `st.session_state[TEST_IDENTITY]`, and give AppTest a client address."""
    _test_hook.enabled, _test_hook.address = enabled, address


def client_address() -> str:
    """The browser's address as the server sees it ('' when unknown: then it is not loopback)."""
    # Not st.context.ip_address: it answers None for 127.0.0.1 and ::1, which would make "this
    # machine" and "unknown" the same, and only the first may enter without sign-in.
    try:
        from streamlit.runtime.context import _get_client_context

        client = _get_client_context()
        address = getattr(client, "remote_ip", None) if client is not None else None
    except Exception:  # noqa: BLE001 - a Streamlit without it: the public answer (loopback lost)
        address = st.context.ip_address
    if isinstance(address, str) and address:
        return address
    # AppTest's runtime is a stand-in with no client: the test hook says where it "connects" from.
    return _test_hook.address if _test_hook.enabled else ""


def session_key() -> str:
    """This browser session (tab) for the throttle; one per Streamlit session."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def current_identity(policy: Policy) -> Identity | None:
    """The person using this session, or None while nobody is signed in (the gate asks them to)."""
    if _test_hook.enabled and TEST_IDENTITY in st.session_state:
        found = st.session_state[TEST_IDENTITY]
        return found if isinstance(found, Identity) else None
    address = client_address()
    match policy.mode:
        case Mode.OIDC:
            claims = st.user.to_dict()  # a dict: AppTest's st.user has not even `is_logged_in`
            if not claims.get("is_logged_in"):
                return None
            return Identity.from_claims(claims, group_claim=policy.admin_group_claim, address=address)
        case Mode.PASSWORD:
            return Identity.password(address) if st.session_state.get(PASSWORD_OK) else None
        case Mode.LOCAL:
            return Identity.local(address)
    return None  # pragma: no cover - exhaustive above


def oidc_configured() -> bool:
    """Whether `.streamlit/secrets.toml` has an `[auth]` section (what `st.login` needs)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, OSError, ValueError):  # no secrets.toml, or an unreadable one
        return False


# ---------------------------------------------------------------------------------------------
# The link a share link pointed at, across the OIDC round trip
# ---------------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def return_links() -> ReturnLinks:
    """Process-wide, bounded and short-lived (see `chatkit.domain.access.return_to`)."""
    return ReturnLinks(ttl_s=600)


def browser_key(cookies: Mapping[str, str] | None = None) -> str | None:
    """A stable key for this browser: sha256 of the token in Streamlit's XSRF cookie.

    The cookie's mask changes with every response, the token under it does not, and the browser
    carries it through the provider's redirects. None without the cookie (XSRF protection off).
    """
    raw = (cookies if cookies is not None else st.context.cookies).get("_streamlit_xsrf")
    if not isinstance(raw, str) or not raw:  # AppTest's cookies are a stand-in: no browser, no key
        return None
    parts = raw.split("|")
    token = raw.encode()
    if len(parts) == 4 and parts[0] == "2":  # Tornado's version-2 masked token
        try:
            mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
            token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
        except (binascii.Error, ZeroDivisionError):
            return None
    return hashlib.sha256(token).hexdigest()


def remember_link(page: str, params: Mapping[str, Sequence[str]]) -> None:
    """Before sign-in: keep where this browser was going."""
    key = browser_key()
    if key:
        return_links().put(key, page, params)


def take_link() -> ReturnLink | None:
    """After sign-in: where this browser was going, once."""
    key = browser_key()
    return return_links().take(key) if key else None
