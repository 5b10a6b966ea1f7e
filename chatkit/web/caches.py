"""Every Streamlit cache of the dashboard: the services (one per process and settings) and the data.

`st.cache_data` is shared by every user of the process, so only data set content goes in (never
per-user state), and every cache is bounded (`max_entries`, `ttl`). Results are shared objects:
never mutate what these functions return.

Deleting a data set must not empty anyone else's caches (`st.cache_data.clear()` would). Each data
set has a generation in this process, part of every cache key: `forget_dataset` bumps it, so none
of the deleted data set's entries is reachable again, while every other data set's stay. Entries
keyed by the data set alone (its frame, the largest; its filter choices) are dropped at once with
the function's own `.clear(args)`; those also keyed by filters or selections (which cannot be
listed) are unreachable from then on and leave as their cache's `max_entries` and `ttl` push them out.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from chatkit import services as wiring
from chatkit.analytics import charts, frame, tables, whatif
from chatkit.domain.models import ChatKitSession
from chatkit.services import Services
from chatkit.settings import Settings
from chatkit.store import Store, datasets

T = TypeVar("T")
TTL_S = 3600

# ---------------------------------------------------------------------------------------------
# Services: store, analyzer and background worker, built once per process and settings
# ---------------------------------------------------------------------------------------------


def settings_key(settings: Settings) -> str:
    """Identifies the settings services were built from, without putting a secret in clear text."""
    secret = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    text = settings.model_dump_json(exclude={"llm_api_key", "analytics_api_token", "dashboard_password"})
    return hashlib.sha256((text + "\0" + secret).encode()).hexdigest()


def _started(settings: Settings) -> Services:
    built = wiring.build(settings, actor="dashboard")
    built.start_worker()  # queued jobs resume in this process, even before anyone opens a page
    return built


@st.cache_resource(max_entries=4, show_spinner=False, on_release=lambda built: built.close())
def _services(key: str, _settings: Settings) -> Services:
    return _started(_settings)


def services(settings: Settings) -> Services:
    """The process's services for these settings; a change of settings builds new ones."""
    return _services(settings_key(settings), settings)


# ---------------------------------------------------------------------------------------------
# Data set generations: what makes deleting one data set forget only its entries
# ---------------------------------------------------------------------------------------------

_generations: dict[str, int] = {}
_generations_lock = threading.Lock()


def generation(dataset_id: str) -> int:
    with _generations_lock:
        return _generations.get(dataset_id, 0)


def _per_dataset(cached: Callable[..., T]) -> Callable[..., T]:
    """`cached(dataset_id, generation, ...)`, called as `(dataset_id, ...)` with the current generation."""

    @functools.wraps(cached)
    def call(dataset_id: str, *args: Any, **kwargs: Any) -> T:
        return cached(dataset_id, generation(dataset_id), *args, **kwargs)

    return call


def forget_dataset(dataset_id: str, store: Store) -> None:
    """Make every cached entry of this data set unreachable (and drop the large ones); others stay."""
    with _generations_lock:
        old = _generations.get(dataset_id, 0)
        _generations[dataset_id] = old + 1
    _dataset_frame.clear(dataset_id, old, store)
    _filter_options.clear(dataset_id, old, store)


# ---------------------------------------------------------------------------------------------
# Cached data: keyed by data set id (a content hash), its generation and the filters' JSON
# ---------------------------------------------------------------------------------------------


class DatasetMissingError(LookupError):
    """Raised (not cached) when a data set id is not in the store."""


@st.cache_data(max_entries=64, ttl=TTL_S, show_spinner=False)
def _session_by_id(dataset_id: str, gen: int, session_id: str, _store: Store) -> ChatKitSession | None:
    return _store.load_session(dataset_id, session_id)


session_by_id = _per_dataset(_session_by_id)


# The facts frames are `cache_resource`, not `cache_data`: `cache_data` pickles a result when it is
# stored and unpickles a copy on every hit, and the Overview reads the frame a dozen times per run —
# at 1,000,000 sessions 0.2 s per copy of a 200 MB frame, seconds of a cold run. They are shared
# objects, read only (as every result here).
@st.cache_resource(max_entries=4, ttl=TTL_S, show_spinner="Reading the data set…")
def _dataset_frame(dataset_id: str, gen: int, _store: Store) -> pd.DataFrame:
    """The facts frame: stored beside the data set, so even 1,000,000 sessions open without revalidation."""
    df = datasets.facts_frame(_store, dataset_id)
    if df is None:
        raise DatasetMissingError(dataset_id)  # raised, not cached: the id may be saved again
    return df


dataset_frame = _per_dataset(_dataset_frame)


@st.cache_data(max_entries=8, ttl=TTL_S, show_spinner=False)
def _filter_options(dataset_id: str, gen: int, _store: Store) -> dict[str, Any]:
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


filter_options = _per_dataset(_filter_options)


@st.cache_resource(max_entries=16, ttl=TTL_S, show_spinner=False)
def _filtered_frame(dataset_id: str, gen: int, filters_json: str, _store: Store) -> pd.DataFrame:
    filters = frame.Filters.model_validate_json(filters_json)
    return frame.apply_filters(dataset_frame(dataset_id, _store), filters)


filtered_frame = _per_dataset(_filtered_frame)


@st.cache_data(max_entries=32, ttl=TTL_S, show_spinner=False)
def _kpis(dataset_id: str, gen: int, filters_json: str, _store: Store) -> dict[str, float | int | None]:
    return frame.kpis(filtered_frame(dataset_id, filters_json, _store))


kpis = _per_dataset(_kpis)


@st.cache_resource(max_entries=64, ttl=TTL_S, show_spinner=False)
def _figure(
    dataset_id: str, gen: int, name: str, filters_json: str, _store: Store, **options: Any
) -> go.Figure:
    df = filtered_frame(dataset_id, filters_json, _store)
    if name in tables.POINT_CHARTS:
        df = tables.drawn_rows(df)
    figure = getattr(charts, name)(df, **options)
    # The page titles each chart above its caption; the figure's own title would repeat it.
    figure.update_layout(title=None, margin={"t": 60})
    # One shared object, never copied (`st.plotly_chart` only reads it): every run draws the very same
    # spec, so the chart's widget id (a hash of its JSON) stays the same and a click's selection is
    # kept; a copy per hit (pickling, or rebuilding from a dict) cost ~0.1 s a chart at 1M sessions.
    return figure


_figure_of = _per_dataset(_figure)


def figure(name: str, dataset_id: str, filters_json: str, store: Store, **options: Any) -> go.Figure:
    """One of `chatkit.analytics.charts`' figures (by name) for the filtered data."""
    return _figure_of(dataset_id, name, filters_json, store, **options)


@st.cache_data(max_entries=128, ttl=TTL_S, show_spinner=False)
def _what_if(
    dataset_id: str,
    gen: int,
    filters_json: str,
    _store: Store,
    limit: int | None,
    ttl_s: int | None,
    workflow: str | None,
) -> whatif.WhatIfResult:
    df = filtered_frame(dataset_id, filters_json, _store)
    return whatif.what_if(df, limit=limit, ttl_s=ttl_s, workflow=workflow)


what_if = _per_dataset(_what_if)


@st.cache_data(max_entries=32, ttl=TTL_S, show_spinner=False)
def _thresholds(dataset_id: str, gen: int, filters_json: str, _store: Store, workflow: str | None) -> dict:
    return whatif.avoidance_thresholds(filtered_frame(dataset_id, filters_json, _store), workflow)


thresholds = _per_dataset(_thresholds)


@st.cache_data(max_entries=32, ttl=TTL_S, show_spinner=False)
def _quotes(dataset_id: str, gen: int, filters_json: str, _store: Store, workflow: str | None) -> list[str]:
    return whatif.prevention_quotes(filtered_frame(dataset_id, filters_json, _store), workflow)


quotes = _per_dataset(_quotes)


@st.cache_data(max_entries=32, ttl=TTL_S, show_spinner=False)
def _what_if_bounds(
    dataset_id: str, gen: int, filters_json: str, workflow: str | None, _store: Store
) -> dict[str, int]:
    return tables.what_if_bounds(filtered_frame(dataset_id, filters_json, _store), workflow)


what_if_bounds = _per_dataset(_what_if_bounds)


@st.cache_resource(max_entries=16, ttl=TTL_S, show_spinner=False)
def _narrowed_frame(
    dataset_id: str,
    gen: int,
    filters_json: str,
    picks: tuple[tables.ChartPick, ...],
    freq: str,
    _store: Store,
) -> pd.DataFrame:
    """The filtered frame narrowed by chart selections (the frame itself when nothing is picked)."""
    return tables.narrowed(filtered_frame(dataset_id, filters_json, _store), picks, freq)


narrowed_frame = _per_dataset(_narrowed_frame)


@st.cache_data(max_entries=32, ttl=TTL_S, show_spinner=False)
def _session_table(
    dataset_id: str,
    gen: int,
    filters_json: str,
    picks: tuple[tables.ChartPick, ...],
    freq: str,
    _store: Store,
) -> tuple[pd.DataFrame, int]:
    """The rows the table shows (at most TABLE_LIMIT, worst first) and how many match in all."""
    df = narrowed_frame(dataset_id, filters_json, picks, freq, _store)
    return tables.session_rows(df), len(df)


session_table = _per_dataset(_session_table)
