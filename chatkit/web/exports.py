"""A displayed table's own CSV download: the one way its rows leave the dashboard, and it is audited.

Streamlit's table toolbar (download as CSV, copy to the clipboard) is switched off for every table
(`client.disableDataExport` in .streamlit/config.toml): it sent the rows without an audit row. The
tables worth taking away get this button instead; its click writes an `export` row naming the
signed-in person, the data set, the table and the row count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd
import streamlit as st

from chatkit.analytics import tables
from chatkit.domain.access import Action
from chatkit.web.setup import PageContext

DEFER_ROWS = 20_000  # a bigger table's CSV is made on click (~0.2 s a 20,000 rows)


def table_download(
    ctx: PageContext,
    df: pd.DataFrame | Callable[[], pd.DataFrame],
    *,
    table: str,
    file_name: str,
    key: str,
    dataset_id: str | None = None,
    label: str = "Download CSV",
    row_count: int | None = None,
) -> None:
    """A download button for `df` as formula-neutral CSV; a click is an audit row (`table` names
    which table in it). The page places it, next to the table it belongs to.

    `df` may be a function giving the rows (and `row_count`, how many). That, and any table over
    `DEFER_ROWS`, makes its CSV when the button is clicked (Streamlit's deferred download, in a thread
    of its own) rather than on every rerun: a million rows cost seconds and the file's size in memory."""
    data: bytes | Callable[[], bytes]
    if callable(df):
        assert row_count is not None, "a deferred download names its row count for the audit row"
        rows = df
        data = lambda: tables.table_csv(rows())  # noqa: E731
    else:
        row_count = len(df)
        data = functools.partial(tables.table_csv, df) if row_count > DEFER_ROWS else tables.table_csv(df)
    st.download_button(
        label,
        data,
        file_name,
        "text/csv",
        key=key,
        icon=":material/download:",
        # The click reruns the page and runs this first; the file is already on its way.
        on_click=ctx.audit,
        args=(Action.EXPORT,),
        kwargs={"detail": f"{table}: {row_count:,} rows", "dataset_id": dataset_id},
    )
