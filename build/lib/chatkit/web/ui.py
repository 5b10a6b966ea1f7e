"""Streamlit glue shared by every page: setup, sidebar, widgets, cached data access.

The only module of `chatkit` that imports Streamlit. What it shows is computed without Streamlit in
`chatkit.web.links` (the URL's parameters) and `chatkit.analytics.tables` (tables, rows and labels). Pages call
`page_setup()` first; it is idempotent and needs nothing from `app.py`, because a deep link on a
freshly started server can run a page file on its own (streamlit#9624).

The URL is the single source of truth for what a page shows (data set, filters, session, job), so a
copied link reopens the same view in a fresh browser. Widgets are views of the URL: each run sets
their state from `st.query_params`, and their `on_change` callbacks write the new value back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from chatkit.analytics import charts, frame, tables, whatif
from chatkit.domain import sample
from chatkit.domain.models import ChatKitSession, Diagnosis, ImportResult, SessionReport, SummaryReport
from chatkit.ingest import import_files
from chatkit.reports import export
from chatkit.reports.analyzer import (
    ChatKitAnalyzer,
    LLMAuthError,
    LLMError,
    render_report_markdown,
    render_summary_markdown,
)
from chatkit.settings import Settings, load_settings
from chatkit.store import DatasetInfo, JobRecord, Store, datasets
from chatkit.web.links import (
    LIST_PARAMS,
    MAX_SEARCH,
    STREAMLIT_PARAMS,
    LinkState,
    carried,
    link_params,
    naive_utc,
    parse_link,
    restrict_to_data,
    short,
    time_bounds,
    with_filters,
)
from chatkit.worker import BackgroundWorker

APP_TITLE = "ChatKit Session Analytics"

# Page key -> file. Links between pages use these paths, which work whether the router in app.py
# ran or a page was opened on its own.
PAGE_FILES = {
    "import": "pages/import_data.py",
    "overview": "pages/overview.py",
    "session": "pages/session.py",
    "batch": "pages/batch_report.py",
    "settings": "pages/settings.py",
}
# Every page: (page, title, icon), in the order a newcomer uses them. The router in app.py, the menu
# page_setup draws and each page's browser tab all read it here.
MENU = [
    ("import", "Import", ":material/upload_file:"),
    ("overview", "Overview", ":material/monitoring:"),
    ("session", "Session", ":material/manage_search:"),
    ("batch", "Batch report", ":material/summarize:"),
    ("settings", "Settings", ":material/settings:"),
]

SEED_EXAMPLE = json.dumps(sample.SEED_SESSION, indent=2)

SAMPLE_SIZE = 300

# ---------------------------------------------------------------------------------------------
# The URL: what a share link carries
# ---------------------------------------------------------------------------------------------


def _current_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def _write_link(state: LinkState) -> None:
    """Replace the URL's parameters (Streamlit's own are kept) only when they differ."""
    wanted = link_params(state)
    for key in STREAMLIT_PARAMS:
        if key in st.query_params:
            wanted[key] = st.query_params.get_all(key)
    if wanted != _current_params():
        st.query_params.from_dict(wanted)


def carry_params(**changes: str | None) -> dict[str, list[str]]:
    """The current view's parameters for a link to another page, with `changes` applied (None drops)."""
    return carried(_current_params(), **changes)


def share_link(page: str) -> str:
    """The full URL of the current view; relative when the browser's address is unknown (tests)."""
    query = urlencode([(k, v) for k, vs in _current_params().items() for v in vs])
    base = st.context.url
    if not base:
        base = "/" + PurePosixPath(PAGE_FILES[page]).stem
    return f"{base}?{query}" if query else base


# ---------------------------------------------------------------------------------------------
# Resources: settings, store, analyzer, background worker
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


def _settings_key(settings: Settings) -> str:
    """Identifies the settings a resource was built from, without putting the key in clear text."""
    secret = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    text = settings.model_dump_json(exclude={"llm_api_key", "analytics_api_token"})
    return hashlib.sha256((text + "\0" + secret).encode()).hexdigest()


@st.cache_resource(max_entries=4, show_spinner=False, on_release=lambda store: store.close())
def _store(database_url: str, _settings: Settings) -> Store:
    return Store.from_settings(_settings)


@st.cache_resource(max_entries=4, show_spinner=False)
def _analyzer(settings_key: str, database_url: str, _settings: Settings, _store: Store) -> ChatKitAnalyzer:
    return ChatKitAnalyzer(_settings, store=_store, actor="dashboard")


@st.cache_resource(max_entries=4, show_spinner=False, on_release=lambda worker: worker.stop())
def _worker(
    settings_key: str, database_url: str, _store: Store, _analyzer: ChatKitAnalyzer
) -> BackgroundWorker:
    """One worker thread per store and settings in this process, started once."""
    worker = BackgroundWorker(_store, _analyzer)
    worker.start()
    return worker


# ---------------------------------------------------------------------------------------------
# Cached data: keyed by data set id (a content hash) and the filters' JSON. Never mutate results.
# ---------------------------------------------------------------------------------------------


class DatasetMissingError(LookupError):
    """Raised (not cached) when a data set id is not in the store."""


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def session_by_id(dataset_id: str, session_id: str, _store: Store) -> ChatKitSession | None:
    return _store.load_session(dataset_id, session_id)


@st.cache_data(max_entries=4, ttl=3600, show_spinner="Reading the data set…")
def dataset_frame(dataset_id: str, _store: Store) -> pd.DataFrame:
    """The facts frame: stored beside the data set, so even 100,000 sessions open without revalidation."""
    df = datasets.facts_frame(_store, dataset_id)
    if df is None:
        raise DatasetMissingError(dataset_id)  # raised, not cached: the id may be saved again
    return df


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def filter_options(dataset_id: str, _store: Store) -> dict[str, Any]:
    """Choices for the sidebar filters (a missing value is `frame.MISSING_LABEL`), and the time span."""
    df = dataset_frame(dataset_id, _store)
    when = frame.event_time(df).dropna()

    def values(column: str) -> list[str]:
        found = sorted(df[column].dropna().astype(str).unique().tolist())
        return [*found, frame.MISSING_LABEL] if df[column].isna().any() else found

    return {
        "workflows": values("workflow_id"),
        "customers": values("customer_id"),
        "first": when.min().to_pydatetime() if len(when) else None,
        "last": when.max().to_pydatetime() if len(when) else None,
    }


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def filtered_frame(dataset_id: str, filters_json: str, _store: Store) -> pd.DataFrame:
    filters = frame.Filters.model_validate_json(filters_json)
    return frame.apply_filters(dataset_frame(dataset_id, _store), filters)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cached_kpis(dataset_id: str, filters_json: str, _store: Store) -> dict[str, float | int | None]:
    return frame.kpis(filtered_frame(dataset_id, filters_json, _store))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def cached_figure(name: str, dataset_id: str, filters_json: str, _store: Store, **options: Any) -> go.Figure:
    """One of `chatkit.analytics.charts`' figures for the filtered data."""
    df = filtered_frame(dataset_id, filters_json, _store)
    if name in tables.POINT_CHARTS:
        df = tables.drawn_rows(df)
    figure = getattr(charts, name)(df, **options)
    # The page titles each chart above its caption; the figure's own title would repeat it.
    figure.update_layout(title=None, margin={"t": 60})
    # Returned as a cache hit returns it (rebuilt from its dict, as unpickling does): the chart's
    # widget id hashes its JSON, and a spec that changed between the run that computed the figure and
    # the next would drop the selection a click on it had just made.
    return go.Figure(figure.to_dict())


@st.cache_data(max_entries=128, ttl=3600, show_spinner=False)
def cached_what_if(
    dataset_id: str,
    filters_json: str,
    _store: Store,
    limit: int | None,
    ttl_s: int | None,
    workflow: str | None,
) -> whatif.WhatIfResult:
    df = filtered_frame(dataset_id, filters_json, _store)
    return whatif.what_if(df, limit=limit, ttl_s=ttl_s, workflow=workflow)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cached_thresholds(dataset_id: str, filters_json: str, _store: Store, workflow: str | None) -> dict:
    return whatif.avoidance_thresholds(filtered_frame(dataset_id, filters_json, _store), workflow)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cached_quotes(dataset_id: str, filters_json: str, _store: Store, workflow: str | None) -> list[str]:
    return whatif.prevention_quotes(filtered_frame(dataset_id, filters_json, _store), workflow)


# ---------------------------------------------------------------------------------------------
# Page setup
# ---------------------------------------------------------------------------------------------


@dataclass
class PageContext:
    """What a page needs, set up by page_setup()."""

    page: str
    settings: Settings
    store: Store
    analyzer: ChatKitAnalyzer
    datasets: list[DatasetInfo]
    dataset: DatasetInfo | None
    filters: frame.Filters
    session_id: str | None
    job_id: str | None

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
    key = _settings_key(settings)
    try:
        store = _store(settings.database_url, settings)
    except Exception as exc:  # noqa: BLE001 - any driver error: say where and what to do
        st.error(
            f"The store at `{settings.public_view()['store']}` cannot be opened ({type(exc).__name__}). "
            "Check CHATKIT_DATA_DIR / CHATKIT_DATABASE_URL and that the database is reachable, then reload."
        )
        st.stop()
    analyzer = _analyzer(key, settings.database_url, settings, store)
    _worker(key, settings.database_url, store, analyzer)
    access_gate(settings)  # after the worker: queued jobs resume even before anyone signs in

    state = parse_link(_current_params())
    datasets = store.list_datasets()
    dataset = _resolve_dataset(state, datasets)
    options = filter_options(dataset.id, store) if dataset else None
    if options is not None:
        state.filters, more = restrict_to_data(state.filters, options)
        state.notices += more
    _write_link(state)

    _sidebar(page, settings, datasets, dataset, state, options)
    if state.notices:
        st.warning(
            "Parts of this link were ignored:\n\n" + "\n".join(f"- {n}" for n in state.notices),
            icon=":material/link_off:",
        )
    return PageContext(
        page=page,
        settings=settings,
        store=store,
        analyzer=analyzer,
        datasets=datasets,
        dataset=dataset,
        filters=state.filters,
        session_id=state.session_id,
        job_id=state.job_id,
    )


_W_PASSWORD = "ui_password"
_SIGNED_IN = "ui_signed_in"


def access_gate(settings: Settings) -> None:
    """With DASHBOARD_PASSWORD set, nothing past this point runs until the password is given.

    Runs in page_setup, so a deep link straight to a page meets it too; the link's query params are
    left alone, so the view it names opens once signed in.
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


def _resolve_dataset(state: LinkState, datasets: list[DatasetInfo]) -> DatasetInfo | None:
    """The linked data set, else the newest one; a link to a deleted data set says so."""
    by_id = {d.id: d for d in datasets}
    if state.dataset_id:
        if state.dataset_id in by_id:
            return by_id[state.dataset_id]
        st.error(
            f"The data set `{short(state.dataset_id)}` in this link no longer exists in this store "
            "(it was deleted, or the link comes from another installation). "
            + ("Pick a data set in the sidebar." if datasets else "Import data on the Import page."),
            icon=":material/folder_off:",
        )
        # Filters and session belonged to the missing data set; a job keeps its own copy of its sessions.
        state.dataset_id, state.filters, state.session_id = None, frame.Filters(), None
        return None
    if datasets:
        state.dataset_id = datasets[0].id
        return datasets[0]
    return None


# ---------------------------------------------------------------------------------------------
# Sidebar: data set, filters, share link, provider
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
    state: LinkState,
    options: Mapping[str, Any] | None,
) -> None:
    with st.sidebar:
        _menu(state)
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
            _filter_widgets(state.filters, options)
        st.divider()
        st.caption("Share this view")
        st.code(share_link(page), language=None, wrap_lines=True)
        _provider_badge(settings)


def _menu(state: LinkState) -> None:
    """The page menu; every link carries the data set and filters (not the session or job)."""
    view = link_params(LinkState(dataset_id=state.dataset_id, filters=state.filters))
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
    st.query_params.from_dict({"ds": chosen} if chosen else {})


def _on_filters_change(lo: datetime | None = None, hi: datetime | None = None) -> None:
    """Every filter widget's callback: rebuild the filter parameters from the widgets."""
    params = with_filters(
        carry_params(sid=None),
        {key: st.session_state.get(widget) or [] for key, widget in _W_LIST.items()},
        st.session_state.get(_W_TIME),
        (lo, hi) if lo is not None and hi is not None else None,
        st.session_state.get(_W_SEARCH) or "",
    )
    st.query_params.from_dict(params)


def _provider_badge(settings: Settings) -> None:
    provider = settings.effective_provider
    if provider == "offline":
        st.badge("Offline analyzer (no LLM key)", icon=":material/cloud_off:", color="gray")
    else:
        st.badge(f"{provider} · {settings.llm_model}", icon=":material/cloud_done:", color="blue")


# ---------------------------------------------------------------------------------------------
# Small shared pieces of UI
# ---------------------------------------------------------------------------------------------


def page_link(page: str, label: str, icon: str, query_params: Mapping[str, Any] | None = None) -> None:
    """`st.page_link`, or a plain link when a page runs on its own and has no page registry."""
    try:
        st.page_link(PAGE_FILES[page], label=label, icon=icon, query_params=query_params)
    except StreamlitPageNotFoundError:
        query = urlencode(dict(query_params or {}), doseq=True)
        st.markdown(f"[{label}](/{PurePosixPath(PAGE_FILES[page]).stem}{'?' + query if query else ''})")


def switch_page(page: str, query_params: Mapping[str, Any]) -> None:
    """`st.switch_page`; a page running on its own stays where it is, with the new parameters."""
    try:
        st.switch_page(PAGE_FILES[page], query_params=query_params)
    except StreamlitPageNotFoundError:
        st.query_params.from_dict(query_params)
        st.rerun()


def delete_dataset(ctx: PageContext, dataset_id: str) -> None:
    """Delete a data set, and forget every cached or remembered view of it."""
    ctx.store.delete_dataset(dataset_id)
    st.cache_data.clear()
    st.query_params.clear()


def load_sample(store: Store) -> str:
    """Save the built-in sample data set and return its id (the same id every time)."""
    return datasets.save_dataset(
        store,
        f"Sample data ({SAMPLE_SIZE} sessions)",
        sample.sample_sessions(SAMPLE_SIZE),
        ["built-in sample"],
    )


def import_once(files: Sequence[tuple[str, bytes]], max_bytes: int) -> ImportResult:
    """Import uploads once per content: reruns of the page reuse this user's last result."""
    digest = hashlib.blake2b(digest_size=16)
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.blake2b(data, digest_size=16).digest())
    key = digest.hexdigest()
    memo = st.session_state.get("ui_import")
    if memo is None or memo[0] != key:
        memo = (key, import_files(files, max_bytes=max_bytes))
        st.session_state["ui_import"] = memo
    return memo[1]


_W_SESSION = "ui_session"
PICK_LIMIT = 1000  # most sessions offered in a pick list; any id can still be typed


def session_picker(ctx: PageContext) -> None:
    """A searchable pick of the filtered sessions (any id can be typed); the choice goes to the URL."""
    assert ctx.dataset is not None
    df = filtered_frame(ctx.dataset.id, ctx.filters_json, ctx.store)
    ids = df["session_id"].head(PICK_LIMIT).tolist()
    if ctx.session_id and ctx.session_id not in ids:
        ids.insert(0, ctx.session_id)
    labels = dict(
        zip(df["session_id"].head(PICK_LIMIT), tables.picker_labels(df.head(PICK_LIMIT)), strict=True)
    )
    st.session_state[_W_SESSION] = ctx.session_id
    shown = f"the first {PICK_LIMIT:,} of " if len(df) > PICK_LIMIT else ""
    st.selectbox(
        f"Session ({shown}{len(df):,} matching the filters; type any id)",
        ids,
        key=_W_SESSION,
        format_func=lambda i: labels.get(i, i),
        placeholder="Type or pick a session id",
        accept_new_options=True,
        on_change=_on_session_change,
    )


def _on_session_change() -> None:
    chosen = (st.session_state.get(_W_SESSION) or "").strip()
    params = carry_params(sid=chosen or None)
    st.query_params.from_dict(params)


_SEVERITY_COLOR = {"critical": "red", "warning": "orange", "info": "blue"}


def diagnosis_card(diagnosis: Diagnosis) -> None:
    st.badge(
        f"{diagnosis.category.value} · {diagnosis.severity.value} · confidence {diagnosis.confidence:.0%}",
        color=_SEVERITY_COLOR.get(diagnosis.severity.value, "gray"),
    )
    st.markdown("\n".join(f"- {e}" for e in diagnosis.evidence) or "_No evidence recorded._")
    if diagnosis.missing_fields:
        st.caption("Fields that would decide it: " + ", ".join(f"`{f}`" for f in diagnosis.missing_fields))
    for flag in diagnosis.flags:
        st.warning(flag, icon=":material/flag:")


def session_report(ctx: PageContext, session: ChatKitSession, *, fresh: bool) -> SessionReport | None:
    """The analyzer's report (its own cache makes repeats free); errors say what to do next."""
    # The last report shown, so a widget rerun does not ask again; one entry, so the memo cannot grow.
    memo_key = (ctx.analyzer.provider_name, ctx.analyzer.model, session.content_hash())
    memo = st.session_state.get("ui_report")
    report = memo[1] if memo and memo[0] == memo_key and not fresh else None
    if report is None:
        try:
            with st.spinner(f"Analyzing with {ctx.analyzer.provider_name}…"):
                report = ctx.analyzer.analyze(session, use_cache=not fresh)
        except LLMAuthError:
            st.error(
                "The LLM endpoint rejected the API key (401). Check `LLM_API_KEY` and `LLM_BASE_URL` "
                "(see the Settings page), or unset the key to use the offline analyzer.",
                icon=":material/key_off:",
            )
            return None
        except LLMError as exc:
            st.error(f"The analysis failed: {exc}. Try again in a minute.", icon=":material/error:")
            return None
        st.session_state["ui_report"] = (memo_key, report)
    if report.error:  # on every run, also when the report comes from the memo
        st.warning(
            f"The LLM could not analyze this session ({report.error}); the rule engine's diagnosis is "
            "shown. Try **Analyze again** later.",
            icon=":material/warning:",
        )
    return report


def report_meta(report: SessionReport) -> None:
    cols = st.columns(4)
    cols[0].metric("Provider", report.provider)
    cols[1].metric("Model", report.model)
    cols[2].metric("Tokens", f"{report.usage.total_tokens:,}")
    cols[3].metric("From cache", "yes" if report.from_cache else "no")


def check_connection(ctx: PageContext) -> tuple[bool, str]:
    """The analyzer's connection test; failures come back as a message, never a traceback."""
    try:
        return ctx.analyzer.test_connection()
    except LLMError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - a network or driver error is reported, not raised
        return False, f"the endpoint could not be reached ({type(exc).__name__})"


# ---------------------------------------------------------------------------------------------
# Overview pieces
# ---------------------------------------------------------------------------------------------


def dataset_caption(ctx: PageContext) -> str:
    assert ctx.dataset is not None
    d = ctx.dataset
    text = f"**{d.name}** · {d.session_count:,} sessions · imported {d.created_at:%Y-%m-%d %H:%M} UTC"
    return text + (" · filtered (see the sidebar)" if ctx.filtering else "")


def kpi_tiles(kpis: Mapping[str, float | int | None]) -> None:
    def pct(value: float | int | None) -> str:
        return "—" if value is None else tables.percent_label(value)

    def util(value: float | int | None) -> str:
        return "—" if value is None else f"{value:.0%}"

    tiles = [
        ("Sessions", f"{int(kpis.get('sessions') or 0):,}", "sessions matching the filters"),
        ("Cancelled", pct(kpis.get("cancelled_pct")), "share of sessions cancelled"),
        ("Rate-limited", pct(kpis.get("rate_limited_pct")), "diagnosed as over the per-minute limit"),
        ("TTL expired", pct(kpis.get("ttl_expired_pct")), "diagnosed as running out their lifetime"),
        (
            "Median util.",
            util(kpis.get("utilization_median")),
            "utilization (requests / limit) of the median session",
        ),
        (
            "p95 util.",
            util(kpis.get("utilization_p95")),
            "95 % of sessions used at most this share of their limit",
        ),
    ]
    for column, (label, value, help_text) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value, help=help_text, border=True)


def chart_title(title: str, caption: str) -> None:
    st.markdown(f"**{title}**")
    st.caption(caption)


def chart_figure(ctx: PageContext, name: str, title: str, **options: Any) -> tables.ChartPick | None:
    """One of `chatkit.analytics.charts`' figures; returns what the user selected on it, if anything."""
    assert ctx.dataset is not None
    figure = cached_figure(name, ctx.dataset.id, ctx.filters_json, ctx.store, **options)
    key = "chart_" + name + "".join(f"_{v}" for v in options.values())
    event = st.plotly_chart(
        figure,
        key=key,
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False},
    )
    return tables.chart_pick(title, name, options, event.selection if event else None)


def chart(ctx: PageContext, name: str, title: str, caption: str, **options: Any) -> tables.ChartPick | None:
    """Title, one line on what to read from it, and the figure."""
    assert ctx.dataset is not None
    if name in tables.POINT_CHARTS:
        count = int(cached_kpis(ctx.dataset.id, ctx.filters_json, ctx.store).get("sessions") or 0)
        if count > tables.MAX_POINTS:
            caption += (
                f" Drawn from {tables.MAX_POINTS:,} of the {count:,} sessions (every ended one first); "
                "filter to see them all."
            )
    chart_title(title, caption)
    return chart_figure(ctx, name, title, **options)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cached_table(
    dataset_id: str, filters_json: str, picks: tuple[tables.ChartPick, ...], freq: str, _store: Store
) -> tuple[pd.DataFrame, int]:
    """The rows the table shows (at most TABLE_LIMIT, worst first) and how many match in all."""
    df = tables.narrowed(filtered_frame(dataset_id, filters_json, _store), picks, freq)
    return tables.session_rows(df), len(df)


def session_table(ctx: PageContext, picks: Sequence[tables.ChartPick | None], freq: str = "h") -> None:
    """The facts of the sessions the filters and chart selections leave; a row opens its session."""
    assert ctx.dataset is not None
    active = tuple(p for p in picks if p is not None)
    table, total = cached_table(ctx.dataset.id, ctx.filters_json, active, freq, ctx.store)
    if active:
        st.caption(
            "Narrowed by your selection on: "
            + ", ".join(f"**{p.title}** ({len(p.values):,})" for p in active)
            + ". Double-click a chart to clear its selection."
        )
    more = f" (the {tables.TABLE_LIMIT:,} most severe shown)" if total > tables.TABLE_LIMIT else ""
    st.caption(f"{total:,} sessions{more}. Select a row to open its session.")
    event = st.dataframe(
        table,
        key="ov_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        height=360,
        column_config={
            "session_id": st.column_config.TextColumn("session"),
            "utilization": st.column_config.NumberColumn("utilization", format="percent"),
            "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "ttl_s": st.column_config.NumberColumn("TTL s"),
            "time_to_end_s": st.column_config.NumberColumn("to end s", format="%.0f"),
            "rate_limit": st.column_config.NumberColumn("limit/min"),
        },
    )
    rows = event.selection.rows if event else []
    if rows:
        session_id = str(table.iloc[rows[0]]["session_id"])
        page_link(
            "session",
            f"Open session **{session_id}**",
            ":material/open_in_new:",
            carry_params(sid=session_id),
        )


_ALL_WORKFLOWS = "All workflows"


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def cached_what_if_bounds(
    dataset_id: str, filters_json: str, workflow: str | None, _store: Store
) -> dict[str, int]:
    return tables.what_if_bounds(filtered_frame(dataset_id, filters_json, _store), workflow)


def what_if_panel(ctx: PageContext) -> None:
    """Sliders for a limit and a TTL; the counts update live (a fragment: the charts do not rerun)."""
    assert ctx.dataset is not None
    dataset_id, filters_json, store = ctx.dataset.id, ctx.filters_json, ctx.store
    workflows = filter_options(dataset_id, store)["workflows"]
    st.subheader("What if")
    st.caption(
        "Try another per-minute limit or TTL and see how many of the cancellations in this data "
        "would not have happened. Computed from the sessions, not estimated."
    )

    @st.fragment
    def panel() -> None:
        choice = st.selectbox("Workflow", [_ALL_WORKFLOWS, *workflows], key="wi_workflow")
        workflow = None if choice == _ALL_WORKFLOWS else choice
        bounds = cached_what_if_bounds(dataset_id, filters_json, workflow, store)
        limit_col, ttl_col = st.columns(2)
        limit = limit_col.slider(
            "Per-minute limit",
            1,
            bounds["limit_max"],
            value=bounds["limit_now"],
            key=f"wi_limit_{choice}",
            help=f"Today's median limit: {bounds['limit_now']}",
        )
        ttl_s = ttl_col.slider(
            "TTL (seconds)",
            1,
            bounds["ttl_max"],
            value=bounds["ttl_now"],
            key=f"wi_ttl_{choice}",
            help=f"Today's median TTL: {bounds['ttl_now']} s",
        )
        result = cached_what_if(dataset_id, filters_json, store, limit, ttl_s, workflow)
        avoided_limit, avoided_ttl = limit_col.columns(1)[0], ttl_col.columns(1)[0]
        avoided_limit.metric(
            "Rate-limit cancellations avoided",
            f"{result.rate_limited_avoided:,} of {result.rate_limited_total:,}",
            border=True,
        )
        avoided_ttl.metric(
            "TTL cancellations avoided", f"{result.ttl_avoided:,} of {result.ttl_total:,}", border=True
        )
        st.caption(result.describe())
        quotes = cached_quotes(dataset_id, filters_json, store, workflow)
        if quotes:
            st.markdown("**What would have prevented them**\n" + "\n".join(f"- {q}" for q in quotes))
        thresholds = cached_thresholds(dataset_id, filters_json, store, workflow)
        st.dataframe(tables.threshold_table(thresholds), hide_index=True)

    panel()


# ---------------------------------------------------------------------------------------------
# Batch jobs
# ---------------------------------------------------------------------------------------------

_POLL_S = 1.0
_STATUS_LABEL = {
    "queued": "queued: waiting for a worker",
    "running": "running",
    "stopping": "stopping: finishing the sessions in flight",
    "stopped": "stopped: what was done is kept",
    "done": "done",
    "failed": "failed",
}


def batch_estimate(ctx: PageContext, count: int) -> str:
    if count == 0:
        return "No session chosen."
    if ctx.analyzer.offline:
        return f"{count:,} sessions; the offline analyzer takes a few seconds."
    minutes = count / max(1, ctx.settings.llm_requests_per_minute)
    return (
        f"{count:,} sessions at up to {ctx.settings.llm_requests_per_minute} LLM requests per minute: "
        f"about {minutes:,.0f} min, less for sessions already in the cache."
    )


def start_job(ctx: PageContext, session_ids: Sequence[str]) -> str:
    """Queue a job in the store; the background worker picks it up."""
    assert ctx.dataset is not None
    return ctx.store.create_job(
        ctx.dataset.id,
        list(session_ids),
        ctx.store.load_sessions(ctx.dataset.id, list(session_ids)),
        provider=ctx.analyzer.provider_name,
        model=ctx.analyzer.model,
    )


def follow_job(ctx: PageContext, first: JobRecord) -> None:
    """Progress and partial results, polled by a fragment while the job runs.

    `first` is the job as the page read it this run: whether it still runs decides the polling.
    """
    job_id = first.id
    running = not first.finished

    @st.fragment(run_every=_POLL_S if running else None)
    def progress() -> None:
        job = ctx.store.get_job(job_id)
        if job is None:
            st.error("This job was deleted from the store.")
            return
        bar, stop = st.columns([6, 1], vertical_alignment="bottom")
        if job.status in ("queued", "running") and stop.button("Stop", icon=":material/stop_circle:"):
            ctx.store.request_stop(job_id)  # the worker finishes what is in flight and keeps it
            job = ctx.store.get_job(job_id) or job
        bar.progress(
            job.done / job.total if job.total else 1.0,
            text=f"**{job.done:,} of {job.total:,}** sessions · {_STATUS_LABEL.get(job.status, job.status)}"
            f" · {job.provider} / {job.model}",
        )
        if job.results:
            st.dataframe(tables.job_results_table(job.results), hide_index=True, width="stretch", height=300)
        if running and job.finished:
            st.rerun()  # the whole page: stop polling, show the summary and downloads

    progress()


def job_outcome(ctx: PageContext, job: JobRecord) -> None:
    """A finished job: how it ended, its summary, and the downloads."""
    reports = [SessionReport.model_validate(r["report"]) for r in job.results if r.get("report")]
    errors = {r["session_id"]: r["error"] for r in job.results if r.get("error") and not r.get("report")}
    if job.status == "done":
        st.success(f"Done: {job.done:,} sessions analyzed.", icon=":material/check_circle:")
    elif job.status == "stopped":
        st.info(f"Stopped after {job.done:,} of {job.total:,} sessions; their results are kept below.")
    else:
        st.error(
            f"The job failed after {job.done:,} of {job.total:,} sessions: {job.error or 'no detail'}. "
            "Its results so far are kept; start a new batch to retry (finished sessions come from the cache).",
            icon=":material/error:",
        )
    summary = SummaryReport.model_validate(job.summary) if job.summary else None
    # A failed session keeps a report that only carries its error: nothing there to summarize.
    analyzed = [r for r in reports if not r.error]
    if summary is None and analyzed:
        memo_key = ("ui_summary", job.id, job.done)
        summary = st.session_state.get(memo_key)
        if summary is None and st.button(
            f"Summarize the {len(analyzed):,} finished sessions", icon=":material/summarize:"
        ):
            with st.spinner("Summarizing…"):
                summary = _summarize(ctx, job, analyzed)
            st.session_state[memo_key] = summary
    if summary is not None:
        with st.container(border=True):
            st.markdown(tables.demoted(render_summary_markdown(summary)))
    if not reports and not errors:
        return
    sessions = {s.id: s for s in ctx.store.job_sessions(job.id)}
    facts = {
        "id": job.id,
        "status": job.status,
        "done": job.done,
        "total": job.total,
        "provider": job.provider,
        "model": job.model,
        "created_at": job.created_at.isoformat(),
    }
    markdown = export.batch_markdown(
        render_summary_markdown(summary) if summary else "_No summary was made._",
        [render_report_markdown(r) for r in reports],
        errors=errors,
    )
    cols = st.columns(3)
    stem = f"chatkit-batch-{job.id[:8]}"
    cols[0].download_button(
        "Report (Markdown)", markdown, f"{stem}.md", "text/markdown", icon=":material/download:"
    )
    cols[1].download_button(
        "Report (JSON)",
        export.batch_json(reports, summary, errors=errors, job=facts),
        f"{stem}.json",
        "application/json",
        icon=":material/download:",
    )
    cols[2].download_button(
        "Per-session diagnosis (CSV)",
        export.reports_csv(reports, errors=errors, sessions=sessions),
        f"{stem}.csv",
        "text/csv",
        icon=":material/download:",
    )


def _summarize(ctx: PageContext, job: JobRecord, reports: Sequence[SessionReport]) -> SummaryReport | None:
    done = {r.session_id for r in reports}
    sessions = [s for s in ctx.store.job_sessions(job.id) if s.id in done]
    try:
        return ctx.analyzer.summarize(sessions, reports)
    except LLMError as exc:
        st.error(f"The summary could not be made: {exc}. Try again later.", icon=":material/error:")
        return None


def past_jobs(ctx: PageContext, limit: int = 15) -> None:
    """The latest jobs; while one of them runs, the list polls so its count keeps up with the bar."""
    live = any(not job.finished for job in ctx.store.list_jobs(limit=limit))

    @st.fragment(run_every=_POLL_S * 2 if live else None)
    def listing() -> None:
        jobs = ctx.store.list_jobs(limit=limit)
        if not jobs:
            st.caption("No batch yet. Start one above; it will be listed here.")
            return
        names = {d.id: d.name for d in ctx.datasets}
        for job in jobs:
            params = {"job": job.id}
            if job.dataset_id in names:
                params["ds"] = job.dataset_id
            page_link(
                "batch",
                f"{job.created_at:%Y-%m-%d %H:%M} · {names.get(job.dataset_id or '', 'deleted data set')} · "
                f"{job.done:,}/{job.total:,} · {job.status} · {job.provider}",
                ":material/history:",
                params,
            )

    listing()


def no_dataset_message(ctx: PageContext) -> None:
    """The empty state shared by pages that need data."""
    if ctx.datasets:  # a link to a deleted data set: others exist, none is chosen
        text = (
            f"No data set is chosen. Pick one of the {len(ctx.datasets):,} stored data sets in the "
            "sidebar, import new exports, or load the built-in sample."
        )
    else:
        text = (
            "There is no data set to show yet. Import ChatKit session exports (JSON, JSONL or CSV) or "
            "load the built-in sample to see every chart at once."
        )
    st.info(text, icon=":material/info:")
    left, right = st.columns([1, 3])
    if left.button("Load sample data", type="primary", icon=":material/science:", key="empty_sample"):
        switch_page("overview", {"ds": load_sample(ctx.store)})
    with right:
        page_link("import", "Go to Import", ":material/upload_file:")
