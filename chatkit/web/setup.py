"""Page setup, shared by every page: settings, services, the access gate, the URL's view, the sidebar.

Pages call `page_setup()` first; it is idempotent and needs nothing from `app.py`, because a deep
link on a freshly started server can run a page file on its own (streamlit#9624). Whatever every
page must do before it shows anything (who may see it, which data set and filters the link names)
happens here and only here, so a deep link or a share link cannot get around it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from chatkit.analytics import frame
from chatkit.domain.access import AccessDenied, Action, Identity, Policy, Role, allowed, may, require, role_of
from chatkit.domain.text import markdown_text
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.services import Services
from chatkit.settings import Settings, load_settings
from chatkit.store import DatasetInfo, Store, set_actor
from chatkit.web import caches, gate, identity, state
from chatkit.web.links import (
    LIST_PARAMS,
    MAX_SEARCH,
    LinkState,
    link_params,
    naive_utc,
    restrict_to_data,
    short,
    time_bounds,
    with_filters,
)
from chatkit.web.nav import APP_TITLE, MENU, PAGE_ACTIONS, PAGE_FILES, page_link, switch_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Access:
    """Who is through the gate, their role, and the rules that decided it."""

    identity: Identity
    role: Role
    policy: Policy


@dataclass
class PageContext:
    """What a page needs, set up by page_setup()."""

    page: str
    settings: Settings
    services: Services
    datasets: list[DatasetInfo]
    dataset: DatasetInfo | None
    filters: frame.Filters
    session_id: str | None
    job_id: str | None
    access: Access

    @property
    def identity(self) -> Identity:
        return self.access.identity

    @property
    def role(self) -> Role:
        return self.access.role

    def may(self, action: Action) -> bool:
        """Whether to offer `action` (hide the button otherwise); doing it still goes through require."""
        return may(self.role, action)

    def require(self, action: Action, *, dataset_id: str | None = None) -> None:
        """Stop here, refused and audited, unless this person may do `action` (see `enforce`)."""
        enforce(self.access, action, self.store, dataset_id=dataset_id)

    def audit(self, action: Action | str, **fields: Any) -> None:
        """A row naming this person (the store writes `acting_as` for the analyzer's own rows)."""
        self.store.audit(self.identity.who, str(action), **fields)

    @property
    def store(self) -> Store:
        return self.services.require_store()

    @property
    def analyzer(self) -> ChatKitAnalyzer:
        return self.services.analyzer

    @property
    def filters_json(self) -> str:
        return self.filters.model_dump_json()

    @property
    def filtering(self) -> bool:
        return self.filters != frame.Filters()


def page_setup(page: str) -> PageContext:
    """Called first by every page; safe to call on every run and without app.py having run."""
    title, icon = next((t, i) for p, t, i in MENU if p == page)
    st.set_page_config(page_title=f"{title} · {APP_TITLE}", page_icon=icon, layout="wide")
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError: a bad env value or secret
        # Before the gate: which setting is wrong is for whoever runs the dashboard (the server log),
        # not for visitors; the message never holds the value (hide_input_in_errors).
        log.error("the configuration is not valid: %s", exc)
        st.error(
            "The configuration is not valid, so the app cannot start. Whoever runs this dashboard: the "
            "server log names the setting; fix it in the environment, `.env` or `.streamlit/secrets.toml`, "
            "then reload."
        )
        st.stop()
    try:
        services = caches.services(settings)  # starts the worker: queued jobs resume before sign-in
    except Exception:
        # Before the gate: where the store is (its URL) is for whoever runs the dashboard, not visitors.
        log.exception("the store at %s cannot be opened", settings.public_view()["store"])
        st.error(
            "The store cannot be opened. Whoever runs this dashboard: check CHATKIT_DATA_DIR / "
            "CHATKIT_DATABASE_URL and that the database is reachable (the server log says more), then reload."
        )
        st.stop()
    store = services.require_store()
    access = access_gate(page, settings, store)
    if page in PAGE_ACTIONS:
        enforce(access, PAGE_ACTIONS[page], store)  # a deep link to an admin page is refused here

    link = state.read_link()
    datasets = store.list_datasets()
    dataset = _resolve_dataset(link, datasets)
    options = caches.filter_options(dataset.id, store) if dataset else None
    if options is not None:
        link.filters, more = restrict_to_data(link.filters, options)
        link.notices += more
    state.write_link(link)

    _sidebar(page, settings, datasets, dataset, link, options, access, store)
    if link.notices:
        st.warning(
            "Parts of this link were ignored:\n\n" + "\n".join(f"- {n}" for n in link.notices),
            icon=":material/link_off:",
        )
    return PageContext(
        page=page,
        settings=settings,
        services=services,
        datasets=datasets,
        dataset=dataset,
        filters=link.filters,
        session_id=link.session_id,
        job_id=link.job_id,
        access=access,
    )


# ---------------------------------------------------------------------------------------------
# Settings and the access gate
# ---------------------------------------------------------------------------------------------


def _secret_overrides() -> dict[str, Any]:
    """Top-level values of `.streamlit/secrets.toml` that name a setting; none without the file."""
    try:
        secrets = st.secrets.to_dict()
    except (FileNotFoundError, OSError, ValueError):  # no secrets.toml, or an unreadable one
        return {}
    fields = set(Settings.model_fields)
    return {k: v for k, v in secrets.items() if k.lower() in fields and not isinstance(v, dict)}


def get_settings() -> Settings:
    """Read per run (cheap): env, `.env` and Streamlit secrets; a bad value is shown, not raised."""
    return load_settings(_secret_overrides())


_RETURN_CHECKED = "_chatkit_return_checked"


def access_gate(page: str, settings: Settings, store: Store) -> Access:
    """Who may see the dashboard: the one place that asks, for every page, deep and share links too.

    OIDC (`[auth]` in secrets.toml), else the shared password, else local use on 127.0.0.1 only.
    Nothing past this point runs for someone not let in. A share link opened before sign-in is kept
    (keyed by this browser) and reopened right after it, since the provider's callback lands on `/`.
    """
    policy = Policy.from_settings(settings, oidc_configured=identity.oidc_configured())
    person = identity.current_identity(policy)
    if person is None:
        if policy.mode.value == "oidc":
            identity.remember_link(page, state.current_params())
            gate.sign_in_screen()
        gate.password_screen(settings, store)
    assert person is not None
    decision = allowed(person, policy)
    if not decision:
        gate.refused_screen(person, decision.reason, store)
    role = role_of(person, policy)
    set_actor(person.who)  # the analyzer's audit rows in this run name the person
    gate.audit_sign_in_once(person, role, store)
    if not st.session_state.get(_RETURN_CHECKED):
        st.session_state[_RETURN_CHECKED] = True  # once per session: later navigation is the person's
        back = identity.take_link()
        known = back is not None and back.page in PAGE_FILES
        if back is not None and known and (back.page != page or back.params):
            switch_page(back.page, back.as_dict())  # as_dict: a filter may repeat a key
    access = Access(person, role, policy)
    with st.sidebar:
        gate.who_is_signed_in(person, role, policy, store)
    return access


def enforce(access: Access, action: Action, store: Store, *, dataset_id: str | None = None) -> None:
    """`require` for the web face: a refusal is audited and shown, and the run stops there."""
    try:
        require(access.identity, action, access.policy)
    except AccessDenied as denied:
        store.audit(
            denied.who,
            Action.REFUSED,
            outcome="refused",
            detail=f"{action.value}: {denied.reason}",
            dataset_id=dataset_id,
        )
        st.error(f"Not allowed: {markdown_text(denied.reason)}.", icon=":material/block:")
        st.stop()


def _resolve_dataset(link: LinkState, datasets: list[DatasetInfo]) -> DatasetInfo | None:
    """The linked data set, else the newest one; a link to a deleted data set says so."""
    by_id = {d.id: d for d in datasets}
    if link.dataset_id:
        if link.dataset_id in by_id:
            return by_id[link.dataset_id]
        st.error(
            f"The data set {short(link.dataset_id)} in this link no longer exists in this store "
            "(it was deleted, or the link comes from another installation). "
            + ("Pick a data set in the sidebar." if datasets else "Import data on the Import page."),
            icon=":material/folder_off:",
        )
        # Filters and session belonged to the missing data set; a job keeps its own copy of its sessions.
        link.dataset_id, link.filters, link.session_id = None, frame.Filters(), None
        return None
    if datasets:
        link.dataset_id = datasets[0].id
        return datasets[0]
    return None


# ---------------------------------------------------------------------------------------------
# Sidebar: menu, data set, filters, share link, provider
# ---------------------------------------------------------------------------------------------

_W_DATASET = "ui_dataset"
_W_LIST = {"cat": "ui_f_cat", "wf": "ui_f_wf", "cust": "ui_f_cust", "status": "ui_f_status"}
_W_TIME = "ui_f_time"
_W_SEARCH = "ui_f_search"


def _sidebar(
    page: str,
    settings: Settings,
    datasets: list[DatasetInfo],
    dataset: DatasetInfo | None,
    link: LinkState,
    options: Mapping[str, Any] | None,
    access: Access,
    store: Store,
) -> None:
    with st.sidebar:
        _menu(link, access)
        if datasets:
            ids = [d.id for d in datasets]
            labels = {d.id: f"{d.name} · {d.session_count:,} sessions" for d in datasets}
            st.session_state[_W_DATASET] = dataset.id if dataset else None
            st.selectbox(
                "Data set",
                ids,
                format_func=lambda i: labels.get(i, i),
                key=_W_DATASET,
                placeholder="Choose a data set",
                on_change=_on_dataset_change,
            )
        else:
            st.caption("No data set yet: import one or load the sample on the Import page.")
        if dataset and options is not None:
            _filter_widgets(link.filters, options)
        st.divider()
        st.caption("Share this view")
        st.code(state.share_link(page), language=None, wrap_lines=True)
        _provider_badge(settings)


def _menu(link: LinkState, access: Access) -> None:
    """The page menu (without the pages this role may not open); every link carries the data set
    and filters (not the session or job)."""
    view = link_params(LinkState(dataset_id=link.dataset_id, filters=link.filters))
    for page, title, icon in MENU:
        if page not in PAGE_ACTIONS or may(access.role, PAGE_ACTIONS[page]):
            page_link(page, title, icon, view)
    st.divider()


def _filter_widgets(filters: frame.Filters, options: Mapping[str, Any]) -> None:
    st.markdown("**Filters**")
    bounds = time_bounds(options)
    choices = {
        "cat": frame.CATEGORIES,
        "status": frame.STATUSES,
        "wf": options["workflows"],
        "cust": options["customers"],
    }
    labels = {"cat": "Diagnosis", "status": "Status", "wf": "Workflow", "cust": "Customer"}
    for key, name in LIST_PARAMS.items():
        st.session_state[_W_LIST[key]] = list(getattr(filters, name))
        st.multiselect(
            labels[key],
            choices[key],
            key=_W_LIST[key],
            placeholder="All",
            on_change=_on_filters_change,
            args=bounds,
        )
    if bounds is not None:
        lo, hi = bounds
        start = max(lo, min(hi, naive_utc(filters.start))) if filters.start else lo
        end = max(lo, min(hi, naive_utc(filters.end))) if filters.end else hi
        st.session_state[_W_TIME] = (start, end)
        st.slider(
            "Ended (or created), UTC",
            min_value=lo,
            max_value=hi,
            step=timedelta(hours=1) if hi - lo <= timedelta(days=7) else timedelta(days=1),
            format="MMM D, HH:mm",
            key=_W_TIME,
            on_change=_on_filters_change,
            args=bounds,
        )
    st.session_state[_W_SEARCH] = filters.search
    st.text_input(
        "Session id contains", key=_W_SEARCH, on_change=_on_filters_change, args=bounds, max_chars=MAX_SEARCH
    )


def _on_dataset_change() -> None:
    chosen = st.session_state.get(_W_DATASET)
    # Filters and the selected session belong to the previous data set.
    state.replace_params({"ds": chosen} if chosen else {})


def _on_filters_change(lo: datetime | None = None, hi: datetime | None = None) -> None:
    """Every filter widget's callback: rebuild the filter parameters from the widgets."""
    params = with_filters(
        state.carry_params(sid=None),
        {key: st.session_state.get(widget) or [] for key, widget in _W_LIST.items()},
        st.session_state.get(_W_TIME),
        (lo, hi) if lo is not None and hi is not None else None,
        st.session_state.get(_W_SEARCH) or "",
    )
    state.replace_params(params)


def _provider_badge(settings: Settings) -> None:
    provider = settings.effective_provider
    if provider == "offline":
        st.badge("Offline analyzer (no LLM key)", icon=":material/cloud_off:", color="gray")
    else:
        st.badge(f"{provider} · {settings.llm_model}", icon=":material/cloud_done:", color="blue")
