"""The screens of the access gate: sign in, the shared password, "not allowed", who is signed in.

`chatkit.web.setup.access_gate` decides which one a run shows; these only draw them and record
what happened in the audit log. Nothing here says how the dashboard is configured before someone
is through the gate (which provider, which addresses are allowed): a stranger learns nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import streamlit as st

from chatkit.domain.access import Action, Identity, Mode, Policy, Role, Throttle, verify_password
from chatkit.settings import Settings
from chatkit.store import Store
from chatkit.web.identity import PASSWORD_OK, client_address, session_key
from chatkit.web.nav import APP_TITLE

_W_PASSWORD = "ui_password"
_AUDITED = "_chatkit_audited"  # who this session's sign-in (or refusal) was audited for

# The throttle's clock; tests replace it to step over the delays instead of sleeping.
clock: Callable[[], float] = time.monotonic


@st.cache_resource(show_spinner=False)
def password_throttle() -> Throttle:
    """One per process, shared by every session: a new tab does not reset its address's delay."""
    return Throttle(base_s=1.0, factor=2.0, cap_s=60.0, clock=lambda: clock())


def _centered() -> st.delta_generator.DeltaGenerator:
    _, middle, _ = st.columns([1, 2, 1])
    return middle


def sign_in_screen() -> None:
    """OIDC, nobody signed in: one button; `st.login` goes to the identity provider and back."""
    with _centered():
        st.title(APP_TITLE)
        st.subheader("Sign in required")
        st.write("Sign in with your company account to continue. The link you opened opens right after.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    st.stop()


def password_screen(settings: Settings, store: Store) -> None:
    """The shared password: hashed at rest, compared in constant time, throttled, failures audited."""
    expected = settings.password_hash()
    assert expected is not None
    address = client_address()
    keys = (f"session:{session_key()}", f"address:{address or 'unknown'}")
    throttle = password_throttle()
    with _centered():
        st.title(APP_TITLE)
        with st.form("sign_in"):
            given = st.text_input("Password", type="password", key=_W_PASSWORD)
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            st.session_state.pop(_W_PASSWORD, None)  # the password stays in no widget state
            wait = throttle.wait_s(*keys)
            if wait > 0:
                # Not even checked: a guessing run gets nothing out of trying during the wait.
                store.audit(
                    "password", Action.SIGN_IN, outcome="throttled", detail=f"from {address or 'unknown'}"
                )
                st.error(f"Too many wrong passwords. Wait {math.ceil(wait)} s, then try again.")
            elif given and verify_password(given, expected):
                throttle.succeeded(*keys)
                st.session_state[PASSWORD_OK] = True
                st.rerun()
            else:
                delay = throttle.failed(*keys)
                store.audit(
                    "password",
                    Action.SIGN_IN,
                    outcome="wrong_password",
                    detail=f"from {address or 'unknown'}; next try allowed in {delay:.0f} s",
                )
                st.error(
                    "That password is not right. Ask whoever runs this dashboard for the current one."
                    + (f" You can try again in {math.ceil(delay)} s." if delay >= 1 else "")
                )
        st.caption("This dashboard is protected by a password.")
    st.stop()


def refused_screen(identity: Identity, reason: str, store: Store) -> None:
    """Signed in (or connected) but not let in: say why, audit it once per session, offer sign-out."""
    if st.session_state.get(_AUDITED) != ("refused", identity.who):
        store.audit(identity.who or "unknown", Action.REFUSED, outcome="not_allowed", detail=reason)
        st.session_state[_AUDITED] = ("refused", identity.who)
    with _centered():
        st.title(APP_TITLE)
        st.subheader("Not allowed")
        # st.text, not Markdown: the address is the provider's (and the user's) text, never markup.
        st.text(f"Refused: {reason}")
        st.write("Ask whoever runs this dashboard to add you, or sign in with another account.")
        if identity.source.value == "oidc":
            st.button("Sign out", icon=":material/logout:", on_click=st.logout)
    st.stop()


def audit_sign_in_once(identity: Identity, role: Role, store: Store) -> bool:
    """Audit the first run of a signed-in session; True on that first run."""
    if st.session_state.get(_AUDITED) == ("in", identity.who):
        return False
    st.session_state[_AUDITED] = ("in", identity.who)
    if identity.source.value in ("oidc", "password"):
        store.audit(
            identity.who, Action.SIGN_IN, outcome="ok", detail=f"{identity.source.value} as {role.value}"
        )
    return True


def _sign_out(identity: Identity, store: Store, mode: Mode) -> None:
    store.audit(identity.who, Action.SIGN_OUT)
    st.session_state.pop(_AUDITED, None)
    if mode is Mode.OIDC:
        st.logout()
    else:
        st.session_state.pop(PASSWORD_OK, None)


def who_is_signed_in(identity: Identity, role: Role, policy: Policy, store: Store) -> None:
    """The sidebar's top: who, in which role, and Sign out; or the banner that nothing guards this."""
    if policy.mode is Mode.LOCAL:
        st.warning(
            "**No access control**: neither sign-in nor a password is configured, so only this machine "
            "(127.0.0.1) may connect, with every right. See the README's *Sign-in and roles*.",
            icon=":material/lock_open:",
        )
        return
    label = identity.who if identity.source.value == "oidc" else "the shared password"
    st.text(f"Signed in as {label} ({role.value})")
    st.button(
        "Sign out",
        icon=":material/logout:",
        key="ui_sign_out",
        on_click=_sign_out,
        args=(identity, store, policy.mode),
    )
