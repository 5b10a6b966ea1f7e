"""Data sets with their facts frame stored beside them, so a large data set opens without revalidation.

A data set saved from a file import (`TableImport`) is its primary form only, as parquet: the
facts frame (snappy: read on every cold open), the session table (`TABLE_SCHEMA`) and the raw records
each session came from (zstd, packed by the import as it reads: `PackedRecords`); no
session objects and no JSON row per session. One session's `ChatKitSession` (its page, its prompt,
the API) is built from the records of its id by today's row path (`sessions_from_blobs`). A data set
saved from objects (the built-in sample, older stores) keeps one JSON row per session, as before.

The frame is a pure function of the sessions and of this code, so it is built once per data set and
code version and read back on every later open. `FRAME_VERSION` names the code: a frame built by
another version is never read, it is rebuilt from the session table (or the session rows) and stored.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chatkit.analytics.facts import facts_frame_from_columns
from chatkit.analytics.frame import FRAME_COLUMNS, empty_frame, sessions_frame
from chatkit.domain import rules as diagnostics
from chatkit.domain.models import ChatKitSession
from chatkit.ingest.records import PackedRecords
from chatkit.ingest.table_import import TableImport, sessions_from_records
from chatkit.store import Store
from chatkit.store.dataset_tables import RECORDS_PREFIX, TABLE_VERSION

# Bump when diagnose() or sessions_frame() compute something different while the rules table and the
# frame's columns and dtypes stay the same (those two are part of FRAME_VERSION by themselves).
FRAME_SCHEMA = 1


def _frame_version() -> str:
    digest = hashlib.sha256(diagnostics.RULES_MARKDOWN.encode())
    for column, dtype in empty_frame().dtypes.items():
        digest.update(f"\n{column}:{dtype!r}".encode())
    return f"{FRAME_SCHEMA}-{digest.hexdigest()[:16]}"


FRAME_VERSION = _frame_version()
_DTYPES = empty_frame().dtypes.to_dict()


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes of a facts frame. Snappy, not zstd: the frame is read on every cold open of the
    Overview, and at 1M sessions zstd's decode was 0.9 s of a 3 s aim (snappy 0.3 s, 1.4x the bytes)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", compression="snappy", index=False)
    return buffer.getvalue()


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    """The frame given to frame_to_bytes, with the exact dtypes of `sessions_frame`.

    Parquet keeps a categorical's categories only as far as they occur in the data (none in an empty
    frame), so every column is put back to its declared dtype. ValueError when it is not a facts frame.
    """
    frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    if list(frame.columns) != FRAME_COLUMNS:
        raise ValueError(f"not a facts frame: columns {list(frame.columns)}")
    changed = {c: t for c, t in _DTYPES.items() if frame[c].dtype != t}
    return frame.astype(changed) if changed else frame


def facts_frame(store: Store, dataset_id: str) -> pd.DataFrame | None:
    """The data set's facts frame (rows in data set order); None when there is no such data set.

    Read from the store when a frame of this FRAME_VERSION is there, else built from the stored
    session table (or the stored sessions) and stored for next time.
    """
    data = store.load_frame(dataset_id, FRAME_VERSION)
    if data is not None:
        try:
            return frame_from_bytes(data)
        except (pa.ArrowException, ValueError):
            pass  # unreadable (a truncated write, say): built again below, which replaces it
    table = store.load_frame(dataset_id, TABLE_VERSION)
    if table is not None:
        frame = facts_frame_from_columns(_read_parquet(table))
        store.save_frame(dataset_id, FRAME_VERSION, frame_to_bytes(frame))
        return frame
    record = store.load_dataset(dataset_id)
    if record is None:
        return None
    return _build_and_store(store, dataset_id, record.sessions)


def save_dataset(
    store: Store,
    name: str,
    sessions: TableImport | Sequence[ChatKitSession],
    source_files: Sequence[str] = (),
) -> str:
    """Store a data set with its facts frame, from an import (its table and records) or from objects.

    Returns the data set's id. A data set stored before keeps its first order, so its frame comes
    from the store (facts_frame) rather than from `sessions`, which may be in another order.
    """
    if isinstance(sessions, TableImport):
        return _save_import(store, name, sessions, source_files)
    dataset_id, inserted = store.insert_dataset(name, sessions, source_files)
    if inserted:
        _build_and_store(store, dataset_id, sessions)
    else:
        facts_frame(store, dataset_id)
    return dataset_id


def _save_import(store: Store, name: str, result: TableImport, source_files: Sequence[str]) -> str:
    """The import's facts frame, session table and records as blobs; the id hashes the records (the
    same files give the same id), kept apart from the id of session rows by a prefix."""
    records = [part.blob for part in result.records]  # packed by the reader, chunk by chunk
    digest = hashlib.sha256(b"records-2")
    for blob in records:
        digest.update(hashlib.sha256(blob).digest())
    dataset_id = digest.hexdigest()[:16]
    if store.dataset_info(dataset_id) is not None:
        return dataset_id
    blobs = {
        FRAME_VERSION: frame_to_bytes(facts_frame_from_columns(result.table)),
        TABLE_VERSION: _parquet(result.table),
    }
    blobs.update({f"{RECORDS_PREFIX}{index:05d}": blob for index, blob in enumerate(records)})
    store.insert_blob_dataset(dataset_id, name, result.session_count, source_files, blobs)
    return dataset_id


def sessions_from_blobs(blobs: Sequence[bytes], session_ids: Sequence[str] | None) -> list[ChatKitSession]:
    """The sessions of `session_ids` (all when None) in data set order, built from stored records."""
    if session_ids is not None and not session_ids:
        return []
    wanted = sorted(set(session_ids)) if session_ids is not None else None
    return sessions_from_records([PackedRecords.from_blob(blob) for blob in blobs], wanted)


def table_ids(data: bytes) -> list[str]:
    """The session ids of a stored session table."""
    return [str(i) for i in pq.read_table(io.BytesIO(data), columns=["id"]).column("id").to_pylist()]


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _read_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def _build_and_store(store: Store, dataset_id: str, sessions: Sequence[ChatKitSession]) -> pd.DataFrame:
    frame = sessions_frame(sessions)
    store.save_frame(dataset_id, FRAME_VERSION, frame_to_bytes(frame))
    return frame


__all__ = [
    "FRAME_SCHEMA",
    "FRAME_VERSION",
    "facts_frame",
    "frame_from_bytes",
    "frame_to_bytes",
    "save_dataset",
    "sessions_from_blobs",
]
