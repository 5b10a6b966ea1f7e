"""The facts table from columns: `sessions_frame`'s frame built from a session table, no objects.

`sessions_frame` walks one `ChatKitSession` and one `Diagnosis` per row; at a million sessions that
walk is most of the import's cost (issue 9). Here the same columns and dtypes (`FRAME_COLUMNS`) come
from a `SESSION_SCHEMA` table (plus its `has_config_warning` column) and `diagnose_columns` without
evidence. tests/ingest/test_columnar.py asserts that both frames are equal on the fixtures and on
sample data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from chatkit.analytics.columnar_rules import SESSION_SCHEMA, diagnose_columns
from chatkit.analytics.frame import _DTYPES, FRAME_COLUMNS, empty_frame


def facts_frame_from_columns(table: pa.Table) -> pd.DataFrame:
    """The facts frame of a session table (`SESSION_SCHEMA` columns and a boolean `has_config_warning`)."""
    if table.num_rows == 0:
        return empty_frame()
    sessions = table.select(SESSION_SCHEMA.names).combine_chunks()
    diagnosis = diagnose_columns(sessions, evidence=False).combine_chunks()
    status = sessions.column("status")
    # `ChatKitSession.ended_at`: the cancel time, else the expiry of an expired session.
    ended = pc.coalesce(
        sessions.column("cancelled_at"),
        pc.if_else(pc.fill_null(pc.equal(status, "expired"), False), sessions.column("expires_at"), None),
    )
    flags = pc.binary_join(diagnosis.column("flags"), ", ")
    source: dict[str, pa.ChunkedArray] = {
        "session_id": sessions.column("id"),
        "status": status,
        "category": diagnosis.column("category"),
        "severity": diagnosis.column("severity"),
        "confidence": diagnosis.column("confidence"),
        "workflow_id": sessions.column("workflow_id"),
        "workflow_version": sessions.column("workflow_version"),
        "customer_id": sessions.column("customer_id"),
        "rate_limit": sessions.column("rate_limit"),
        "requests": sessions.column("requests"),
        "utilization": diagnosis.column("utilization"),
        "overage": diagnosis.column("overage"),
        "ttl_s": diagnosis.column("ttl_s"),
        "created_at": sessions.column("created_at"),
        "ended_at": ended,
        "time_to_end_s": diagnosis.column("time_to_end_s"),
        "reason": sessions.column("reason"),
        "has_config_warning": table.column("has_config_warning"),
        "flags": flags,
    }
    data = {name: _typed(source[name], _DTYPES[name]) for name in FRAME_COLUMNS}
    return pd.DataFrame(data, columns=FRAME_COLUMNS)


def _typed(values: pa.ChunkedArray | pa.Array, dtype: object) -> pd.api.extensions.ExtensionArray:
    """One arrow column as the frame's pandas dtype (the same dtypes `sessions_frame` builds)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical(values, dtype)
    if dtype == "datetime64[ns, UTC]":
        return pd.array(values.cast(pa.timestamp("ns", tz="UTC")).to_pandas(), dtype=dtype)
    if dtype in ("Int64", "Float64", "boolean"):
        numbers = values.to_numpy(zero_copy_only=False)
        mask = np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False), dtype=bool)
        kind = {"Int64": "int64", "Float64": "float64", "boolean": "bool"}[str(dtype)]
        filled = np.where(mask, 0, numbers).astype(kind) if mask.any() else numbers.astype(kind)
        return pd.array(filled, dtype=dtype).copy() if not mask.any() else _masked(filled, mask, dtype)
    return pd.array(values.to_pandas(), dtype=dtype)


def _categorical(values: pa.ChunkedArray | pa.Array, dtype: pd.CategoricalDtype) -> pd.Categorical:
    """A text or dictionary column as the frame's categorical, from its dictionary's codes: a
    million strings looked up in the categories cost ~10x more. A value outside them is NaN, as
    `pd.Categorical` makes it."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_dictionary(values.type):
        values = values.dictionary_encode()
    lookup = pd.Index(dtype.categories).get_indexer(values.dictionary.to_pandas())
    indices = values.indices
    codes = np.asarray(pc.fill_null(indices, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    codes = lookup[codes] if len(lookup) else np.full(len(codes), -1)
    if indices.null_count:
        codes[np.asarray(indices.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = -1
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _masked(filled: np.ndarray, mask: np.ndarray, dtype: object) -> pd.api.extensions.ExtensionArray:
    out = pd.array(filled, dtype=dtype)
    out[mask] = pd.NA
    return out
