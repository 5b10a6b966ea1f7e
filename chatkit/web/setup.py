"""Page setup, shared by every page: settings, services, the access gate, the URL's view, the sidebar.

Pages call `page_setup()` first; it is idempotent and needs nothing from `app.py`, because a deep
link on a freshly started server can run a page file on its own (streamlit#9624). Whatever every
page must do before it shows anything (who may see it, which data set and filters the link names)
happens here and only here, so a deep link or a share link cannot get around it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from chatkit.analytics import frame
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.services import Services
from chatkit.settings import Settings, load_settings
from chatkit.store import DatasetInfo, Store
from chatkit.web import caches, state
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
from chatkit.web.nav import APP_TITLE, MENU, page_link


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
        st.error(
            f"The configuration is not valid, so the app cannot start: {exc}. Fix the setting named "
            "above in the environment, `.env` or `.streamlit/secrets.toml`, then reload."
        )
        st.stop()
    try:
        services = caches.services(settings)  # starts the worker: queued jobs resume before sign-in
    except Exception as exc:  # noqa: BLE001 - any driver error: say where and what to do
        st.error(
            f"The store at `{settings.public_view()['store']}` cannot be opened ({type(exc).__name__}). "
            "Check CHATKIT_DATA_DIR / CHATKIT_DATABASE_URL and that the database is reachable, then reload."
        )
        st.stop()
    access_gate(settings)
    store = services.require_store()

    link = state.read_link()
    datasets = store.list_datasets()
    dataset = _resolve_dataset(link, datasets)
    options = caches.filter_options(dataset.id, store) if dataset else None
    if options is not None:
        link.filters, more = restrict_to_data(link.filters, options)
        link.notices += more
    state.write_link(link)

    _sidebar(page, settings, datasets, dataset, link, options)
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


_W_PASSWORD = "ui_password"
_SIGNED_IN = "ui_signed_in"


def access_gate(settings: Settings) -> None:
    """Who may see the dashboard: the one place that asks, for every page (sign-in goes here too).

    With DASHBOARD_PASSWORD set, nothing past this point runs until the password is given. The
    link's query params are left alone, so the view a deep link names opens once signed in.
    """
    expected = settings.dashboard_password
    if expected is None or not expected.get_secret_value() or st.session_state.get(_SIGNED_IN):
        return
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title(APP_TITLE)
        with st.form("sign_in"):
            given = st.text_input("Password", type="password", key=_W_PASSWORD)
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            if hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
                st.session_state[_SIGNED_IN] = True
                st.session_state.pop(_W_PASSWORD, None)  # the password stays in no widget state
                st.rerun()
            st.error("That password is not right. Ask whoever runs this dashboard for the current one.")
        st.caption("This dashboard is protected by a password (DASHBOARD_PASSWORD).")
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
) -> None:
    with st.sidebar:
        _menu(link)
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


def _menu(link: LinkState) -> None:
    """The page menu; every link carries the data set and filters (not the session or job)."""
    view = link_params(LinkState(dataset_id=link.dataset_id, filters=link.filters))
    for page, title, icon in MENU:
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
