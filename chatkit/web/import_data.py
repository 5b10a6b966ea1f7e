"""The Import page's parts: reading uploads once, the stored data sets, deleting one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from chatkit.analytics import tables
from chatkit.domain import sample
from chatkit.domain.access import Action
from chatkit.domain.models import ChatKitSession, ImportIssue, ImportResult
from chatkit.domain.text import markdown_text
from chatkit.ingest import TableImport, import_files
from chatkit.settings import Settings
from chatkit.store import DatasetInfo
from chatkit.web import caches, exports
from chatkit.web.nav import page_link
from chatkit.web.setup import PageContext

SEED_EXAMPLE = json.dumps(sample.SEED_SESSION, indent=2)


def import_once(files: Sequence[tuple[str, bytes]], settings: Settings) -> ImportResult:
    """Import uploads once per content: reruns of the page reuse this user's last result."""
    digest = hashlib.blake2b(digest_size=16)
    for name, data in files:
        digest.update(name.encode() + b"\0" + hashlib.blake2b(data, digest_size=16).digest())
    key = digest.hexdigest()
    memo = st.session_state.get("ui_import")
    if memo is None or memo[0] != key:
        memo = (
            key,
            import_files(
                files,
                max_bytes=settings.max_upload_bytes,
                max_field_bytes=settings.chatkit_max_field_bytes,
                max_total_bytes=settings.max_import_bytes,
            ),
        )
        st.session_state["ui_import"] = memo
    return memo[1]


def issues_table(ctx: PageContext, issues: Sequence[ImportIssue], kind: str, files: Sequence[str]) -> None:
    """Import errors or warnings, and their own download (they quote session ids: an audited export)."""
    table = tables.issues_table(issues)
    st.dataframe(tables.download_safe(table), hide_index=True, width="stretch")
    exports.table_download(
        ctx,
        table,
        table=f"Import {kind} of {', '.join(files)}",
        file_name=f"chatkit-import-{kind}.csv",
        key=f"dl_import_{kind}",
    )


def sessions_preview(ctx: PageContext, sessions: Sequence[ChatKitSession], files: Sequence[str]) -> None:
    """The first sessions read, and their own download (customer data leaving: an audited export)."""
    preview = tables.sessions_preview(sessions)
    st.dataframe(tables.download_safe(preview), hide_index=True, width="stretch")
    exports.table_download(
        ctx,
        preview,
        table=f"Import preview of {', '.join(files)}",
        file_name="chatkit-import-preview.csv",
        key="dl_import_preview",
    )


def datasets_table(datasets: Sequence[DatasetInfo]) -> None:
    st.dataframe(
        tables.download_safe(
            pd.DataFrame(
                {
                    "name": d.name,
                    "sessions": d.session_count,
                    "imported (UTC)": d.created_at,
                    "files": ", ".join(d.source_files),
                    "id": d.id,
                }
                for d in datasets
            )
        ),
        hide_index=True,
        width="stretch",
        column_config={"imported (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )


def dataset_row(ctx: PageContext, dataset: DatasetInfo) -> None:
    """A link that opens the data set; for admins, Keep (pin past retention) and Delete behind a
    confirmation. Viewers see neither, and a crafted request for them is refused in the handlers."""
    link_col, pin_col, delete_col = st.columns([4, 1, 1])
    with link_col:
        page_link(
            "overview",
            f"Open **{markdown_text(dataset.name)}** ({dataset.session_count:,} sessions)",
            ":material/open_in_new:",
            {"ds": dataset.id},
        )
    if not ctx.may(Action.DELETE):
        if dataset.pinned:
            pin_col.caption("kept (pinned)")
        return
    pin_col.toggle(
        "Keep",
        value=dataset.pinned,
        key=f"pin_{dataset.id}",
        help="Pinned data sets are kept when retention purges old ones.",
        on_change=_on_pin,
        args=(ctx, dataset.id),
    )
    with delete_col.popover("Delete", icon=":material/delete:"):
        st.markdown(f"Delete **{markdown_text(dataset.name)}**? Links to it will say it no longer exists.")
        if st.button("Delete for good", key=f"delete_{dataset.id}", type="primary"):
            delete_dataset(ctx, dataset.id)
            st.rerun()


def delete_dataset(ctx: PageContext, dataset_id: str) -> None:
    """Delete a data set (admins only) and forget its cached views; other data sets' caches stay."""
    ctx.require(Action.DELETE, dataset_id=dataset_id)
    ctx.store.delete_dataset(dataset_id)
    ctx.audit(Action.DELETE, dataset_id=dataset_id)
    caches.forget_dataset(dataset_id, ctx.store)
    st.query_params.clear()


def _on_pin(ctx: PageContext, dataset_id: str) -> None:
    pin(ctx, dataset_id, bool(st.session_state.get(f"pin_{dataset_id}")))


def pin(ctx: PageContext, dataset_id: str, pinned: bool) -> None:
    """Keep a data set past retention, or let it go (admins only)."""
    ctx.require(Action.PIN, dataset_id=dataset_id)
    if ctx.store.set_pinned(dataset_id, pinned):
        ctx.audit(Action.PIN, outcome="pinned" if pinned else "unpinned", dataset_id=dataset_id)


def save(ctx: PageContext, name: str, result: ImportResult, files: Sequence[str]) -> str:
    """Save an import as a data set (its session table and records; no objects are built); audited
    with who imported it."""
    from chatkit.store import datasets

    imported = result if isinstance(result, TableImport) else result.sessions
    dataset_id = datasets.save_dataset(ctx.store, name, imported, files)
    ctx.audit(
        Action.IMPORT,
        session_ids=result.session_ids(),
        detail=f"{name} from {', '.join(files)}",
        dataset_id=dataset_id,
    )
    return dataset_id
