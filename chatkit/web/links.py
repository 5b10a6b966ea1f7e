"""What a share link carries: the dashboard's URL query parameters <-> data set, filters, session, job.

Pure: nothing here reads Streamlit, so a link can be checked with plain dicts. The URL is untrusted
input (hand-edited, stale, from another installation): every value is checked, and what is ignored
comes back as a notice in words a reader understands, never as an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chatkit.analytics import frame
from chatkit.domain.models import parse_timestamp
from chatkit.domain.text import ECHO_CHARS, markdown_code, markdown_text

# Query parameter -> Filters field, for the list-valued filters.
LIST_PARAMS = {"cat": "categories", "wf": "workflows", "cust": "customers", "status": "statuses"}
# Query parameter -> LinkState field, for the single ids.
_ID_PARAMS = {"ds": "dataset_id", "sid": "session_id", "job": "job_id"}
# Streamlit's own parameters, kept as they are.
STREAMLIT_PARAMS = frozenset({"embed", "embed_options"})
VALID_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
MAX_SEARCH = 200
# `from` / `to` to the minute, UTC: what the time slider can set.
TIME_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass
class LinkState:
    """What the URL asks for, after syntax checks; `notices` says what was ignored and why."""

    dataset_id: str | None = None
    filters: frame.Filters = field(default_factory=frame.Filters)
    session_id: str | None = None
    job_id: str | None = None
    notices: list[str] = field(default_factory=list)


def parse_link(params: Mapping[str, Sequence[str]]) -> LinkState:
    """Read query parameters (each a list of values) into a LinkState; bad values become notices."""
    state = LinkState()
    lists: dict[str, list[str]] = {name: [] for name in LIST_PARAMS.values()}
    start = end = None
    search = ""
    for key, values in params.items():
        values = [v for v in values if v != ""]
        if key in STREAMLIT_PARAMS or not values:
            continue
        if key in LIST_PARAMS:
            lists[LIST_PARAMS[key]] = _valid_list(key, values, state.notices)
        elif key in _ID_PARAMS:
            value = values[-1]
            if VALID_ID.match(value):
                setattr(state, _ID_PARAMS[key], value)
            else:
                state.notices.append(f"`{key}` is not a valid id ({short(value)}), so it was ignored.")
        elif key == "q":
            search = values[-1][:MAX_SEARCH]
        elif key in ("from", "to"):
            try:
                moment = parse_timestamp(values[-1])
            except ValueError as exc:
                state.notices.append(f"`{key}` was ignored: {markdown_text(exc, limit=ECHO_CHARS)}.")
                continue
            if key == "from":
                start = moment
            else:
                end = moment
        else:
            state.notices.append(f"Unknown link parameter {short(key)} was ignored.")
    if start and end and start > end:
        state.notices.append("`from` is after `to`, so the time filter was ignored.")
        start = end = None
    state.filters = frame.Filters(**lists, start=start, end=end, search=search)
    return state


def _valid_list(key: str, values: list[str], notices: list[str]) -> list[str]:
    """Syntax and fixed vocabularies are checked here; workflows/customers against the data later."""
    allowed = {"cat": frame.CATEGORIES, "status": frame.STATUSES}.get(key)
    kept: list[str] = []
    dropped: list[str] = []
    for value in dict.fromkeys(values):
        ok = value in allowed if allowed else bool(VALID_ID.match(value)) or value == frame.MISSING_LABEL
        (kept if ok else dropped).append(value)
    if dropped:
        notices.append(f"Unknown `{key}` value(s) ignored: {', '.join(short(v) for v in dropped)}.")
    return kept


def short(text: str, limit: int = 40) -> str:
    """A value from the URL as Markdown inline code, short enough for a notice (a bounded echo): shown
    exactly, whatever backticks or markup it holds."""
    return markdown_code(text, limit=limit)


def link_params(state: LinkState) -> dict[str, list[str]]:
    """The inverse of parse_link: only what is set, in a stable order."""
    f = state.filters
    params: dict[str, list[str]] = {}
    if state.dataset_id:
        params["ds"] = [state.dataset_id]
    for key, name in LIST_PARAMS.items():
        if getattr(f, name):
            params[key] = list(getattr(f, name))
    if f.start:
        params["from"] = [f.start.astimezone(UTC).strftime(TIME_FORMAT)]
    if f.end:
        params["to"] = [f.end.astimezone(UTC).strftime(TIME_FORMAT)]
    if f.search:
        params["q"] = [f.search]
    if state.session_id:
        params["sid"] = [state.session_id]
    if state.job_id:
        params["job"] = [state.job_id]
    return params


def restrict_to_data(
    filters: frame.Filters, options: Mapping[str, list[str]]
) -> tuple[frame.Filters, list[str]]:
    """Drop workflow/customer values the data set does not have (a hand-edited or stale link)."""
    notices = []
    changes: dict[str, list[str]] = {}
    for key, name in (("wf", "workflows"), ("cust", "customers")):
        known = set(options[name])
        values = getattr(filters, name)
        unknown = [v for v in values if v not in known]
        if unknown:
            notices.append(
                f"`{key}` value(s) not in this data set were ignored: {', '.join(short(v) for v in unknown)}."
            )
            changes[name] = [v for v in values if v in known]
    return (filters.model_copy(update=changes) if changes else filters), notices


def carried(params: Mapping[str, list[str]], **changes: str | None) -> dict[str, list[str]]:
    """`params` without Streamlit's own, with `changes` applied (None drops): a link to another view."""
    kept = {k: list(v) for k, v in params.items() if k not in STREAMLIT_PARAMS}
    for key, value in changes.items():
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = [value]
    return kept


def with_filters(
    params: Mapping[str, list[str]],
    lists: Mapping[str, Sequence[str]],
    time_range: tuple[datetime, datetime] | None,
    bounds: tuple[datetime, datetime] | None,
    search: str,
) -> dict[str, list[str]]:
    """`params` with the filter parameters replaced by what the filter widgets hold.

    `lists` maps list parameters (`cat`, `wf`, ...) to the chosen values; a time range that spans
    the whole of `bounds` (naive UTC, see time_bounds) is no time filter.
    """
    result = {k: list(v) for k, v in params.items()}
    for key, values in lists.items():
        if values:
            result[key] = list(values)
        else:
            result.pop(key, None)
    result.pop("from", None)
    result.pop("to", None)
    if time_range and bounds is not None:
        (start, end), (lo, hi) = time_range, bounds
        if start > lo:
            result["from"] = [start.strftime(TIME_FORMAT)]
        if end < hi:
            result["to"] = [end.strftime(TIME_FORMAT)]
    search = search.strip()
    if search:
        result["q"] = [search]
    else:
        result.pop("q", None)
    return result


def time_bounds(options: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """Whole hours around the data's `first` and `last` times (naive UTC), or None without a span."""
    first, last = options["first"], options["last"]
    if first is None or last is None or first >= last:
        return None
    lo = naive_utc(first).replace(minute=0, second=0, microsecond=0)
    hi = naive_utc(last).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return lo, hi


def naive_utc(moment: datetime) -> datetime:
    """The time slider works in naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)
