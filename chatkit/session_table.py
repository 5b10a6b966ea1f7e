"""The session table's Arrow schema: one row per session, its fields normalized from both shapes.

The columnar import (`chatkit.ingest`) builds it and the rules and the facts table
(`chatkit.analytics`) read it. Those are sibling layers and the domain knows no pyarrow, so the
schema sits between them and the domain, in this one place.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

# What one session contributes, after both shapes are normalized (the columnar reader's target).
# `rate_limit` is `max_requests_per_1_minute`, else `rate_limits.max_requests_per_1_minute`; `status` is
# one of active / expired / cancelled or null; `ttl_seconds` is the given field only (the TTL derived
# from `expires_at - created_at` is the rules' business, as `ChatKitSession.ttl` is).
SESSION_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("status", pa.string()),
        pa.field("workflow_id", pa.string()),
        pa.field("workflow_version", pa.string()),
        pa.field("customer_id", pa.string()),
        pa.field("rate_limit", pa.int64()),
        pa.field("requests", pa.int64()),
        pa.field("ttl_seconds", pa.int64()),
        pa.field("created_at", TIMESTAMP),
        pa.field("expires_at", TIMESTAMP),
        pa.field("cancelled_at", TIMESTAMP),
        pa.field("reason", pa.string()),
    ]
)

# What an import keeps and a data set stores: the rules' input plus whether the session has a
# configuration warning (the facts table shows it).
TABLE_SCHEMA = SESSION_SCHEMA.append(pa.field("has_config_warning", pa.bool_(), nullable=False))
