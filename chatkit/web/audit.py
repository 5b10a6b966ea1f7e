"""The Audit page's parts: filters (person, action, data set, time), the table, a formula-safe CSV.

It answers "who did what to this data set": every row names the signed-in person (or the API
token, `retention`; a batch job's rows name whoever queued it, the worker only for jobs queued
before migration 0003) and, since migration 0002, the data set it was about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from chatkit.analytics import tables
from chatkit.store import Store
from chatkit.web import exports
from chatkit.web.setup import PageContext

EVERYONE = "Everyone"
ALL_DATASETS = "All data sets"
MAX_ROWS = 5000
COLUMNS = [
    "at",
    "actor",
    "action",
    "outcome",
    "dataset_id",
    "provider",
    "model",
    "tokens",
    "session_count",
    "detail",
]


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None
    actions: tuple[str, ...]
    dataset_id: str | None
    since: datetime | None
    until: datetime | None


def filters(ctx: PageContext) -> AuditFilters:
    """The filter widgets; the data set defaults to the one chosen in the sidebar."""
    store = ctx.store
    names = {d.id: d.name for d in ctx.datasets}
    person_col, action_col, dataset_col, time_col = st.columns(4)
    actor = person_col.selectbox("Person", [EVERYONE, *store.audit_actors()], key="ui_audit_actor")
    actions = action_col.multiselect(
        "Action", store.audit_actions(), placeholder="All actions", key="ui_audit_actions"
    )
    dataset_choices = [ALL_DATASETS, *names]
    dataset = dataset_col.selectbox(
        "Data set",
        dataset_choices,
        format_func=lambda i: i if i == ALL_DATASETS else f"{names.get(i, 'deleted')} · {i[:8]}",
        key="ui_audit_dataset",
    )
    today = datetime.now(UTC).date()
    span = time_col.date_input(
        "Between (UTC)", value=(today - timedelta(days=30), today), max_value=today, key="ui_audit_span"
    )
    since, until = _bounds(span)
    return AuditFilters(
        actor=None if actor == EVERYONE else actor,
        actions=tuple(actions),
        dataset_id=None if dataset == ALL_DATASETS else dataset,
        since=since,
        until=until,
    )


def _bounds(span: object) -> tuple[datetime | None, datetime | None]:
    """A date range (either end may be missing while the user picks) as [since, until) in UTC."""
    picked = list(span) if isinstance(span, Sequence) else [span]
    days: list[date] = [d for d in picked if isinstance(d, date)]
    if not days:
        return None, None
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    until = datetime.combine(days[-1], time.min, tzinfo=UTC) + timedelta(days=1)
    return since, until


def rows(store: Store, chosen: AuditFilters, limit: int = MAX_ROWS) -> pd.DataFrame:
    found = store.audit_log(
        limit,
        actor=chosen.actor,
        actions=chosen.actions,
        dataset_id=chosen.dataset_id,
        since=chosen.since,
        until=chosen.until,
    )
    return pd.DataFrame(found, columns=[*COLUMNS, "session_ids"]).reindex(columns=COLUMNS)


def table(ctx: PageContext, df: pd.DataFrame) -> None:
    st.dataframe(
        tables.download_safe(df),
        hide_index=True,
        width="stretch",
        column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss")},
    )
    exports.table_download(ctx, df, table="Audit log", file_name="chatkit-audit.csv", key="dl_audit")
