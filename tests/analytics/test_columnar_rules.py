"""The column-wise rules give exactly what the row-wise `diagnose` (the reference) gives, row by row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkit.analytics.columnar_rules import (
    DIAGNOSIS_SCHEMA,
    SESSION_SCHEMA,
    diagnose_columns,
    session_columns,
)
from chatkit.domain.models import MAX_COUNT, ChatKitSession
from chatkit.domain.rules import diagnose
from chatkit.domain.sample import SEED_SESSION, sample_sessions

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = int((datetime(2000, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 10**6
_MAX_US = int((datetime(2100, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 10**6 - 1


def reference(sessions: list[ChatKitSession]) -> list[dict[str, Any]]:
    return [diagnose(s).model_dump(mode="json") for s in sessions]


def vectorized(sessions: list[ChatKitSession]) -> list[dict[str, Any]]:
    return diagnose_columns(session_columns(sessions)).to_pylist()


def assert_same(sessions: list[ChatKitSession]) -> None:
    """Every Diagnosis field equal, exactly (floats included), with the session named on a mismatch."""
    for session, want, got in zip(sessions, reference(sessions), vectorized(sessions), strict=True):
        assert got == want, session.model_dump(mode="json")


# ---- examples ------------------------------------------------------------------------------------


def test_seed_example_matches_the_reference_in_every_field():
    (row,) = vectorized([ChatKitSession.model_validate(SEED_SESSION)])
    assert row["category"] == "rate_limited"
    assert row["severity"] == "warning"
    assert row["confidence"] == 0.95
    assert "35 requests vs limit 30: 117 % of the limit (5 over)" in row["evidence"]
    assert row["overage"] == 5
    assert row["ttl_s"] == 900
    assert row["flags"] == []
    assert_same([ChatKitSession.model_validate(SEED_SESSION)])


def test_sample_data_set_matches_the_reference():
    assert_same(sample_sessions(3_000, seed=11))


def test_schemas_and_order_are_kept():
    sessions = sample_sessions(50)
    table = session_columns(sessions)
    assert table.schema == SESSION_SCHEMA
    out = diagnose_columns(table)
    assert out.schema == DIAGNOSIS_SCHEMA
    assert out.column("session_id").to_pylist() == [s.id for s in sessions]


def test_empty_table_gives_an_empty_result():
    out = diagnose_columns(session_columns([]))
    assert out.num_rows == 0
    assert out.schema == DIAGNOSIS_SCHEMA


def test_chunked_columns_read_like_one_chunk():
    sessions = sample_sessions(40)
    table = session_columns(sessions)
    chunked = pa.concat_tables([table.slice(0, 13), table.slice(13)])
    assert chunked.column("id").num_chunks == 2
    assert diagnose_columns(chunked).to_pylist() == diagnose_columns(table).to_pylist()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.05, "0.1"), (0.15, "0.1"), (1.25, "1.2"), (2.5, "2.5"), (0.96, "1.0"), (12, "12")],
)
def test_times_are_written_as_python_writes_them(seconds, text):
    """Half-tenths go the way the double falls (0.05 up, 0.15 down, 1.25 to even), as `format` does."""
    created = datetime(2025, 3, 14, 12, tzinfo=UTC)
    session = ChatKitSession.model_validate(
        {
            "id": "cksess_t",
            "status": "cancelled",
            "created_at": created,
            "cancelled_at": created + timedelta(seconds=seconds),
            "ttl_seconds": 6000,
        }
    )
    (row,) = vectorized([session])
    assert f"cancelled {text} s after creation; TTL 6000 s (0 % of TTL)" in row["evidence"]
    assert_same([session])


# ---- the property: random sessions, both shapes, hostile values --------------------------------

_RATE = ["Rate limit exceeded", "429 Too Many Requests", "rate_limit_exceeded", "throttled", "quota"]
_TTL = ["Session expired", "TTL reached", "timeout", "timed out", "lifetime over"]
_MANUAL = ["Cancelled by admin", "User closed the chat", "closed by operator", "logged out", "manual"]
_MIXED = ["cancelled by admin after rate limit", "user hit timeout", "429 after TTL expired", "none"]
_known_reasons = st.sampled_from(_RATE + _TTL + _MANUAL + _MIXED)
_reasons = st.one_of(
    st.none(),
    _known_reasons,
    _known_reasons,
    st.sampled_from(_RATE + _TTL + _MANUAL).map(lambda r: f"  {r.upper()}\n"),
    # hostile: quotes, backslashes, newlines, control and bidi characters, any script, very long
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.text(alphabet="'\"\\\n\r\t\x00\x1b\u2028\u202e é漢😀 ", min_size=1, max_size=12),
    st.text(alphabet="abc rate limit expired ", min_size=190, max_size=260),
)
_counts = st.one_of(
    st.none(),
    st.integers(0, 3),
    st.integers(0, 200),
    st.integers(10**12, MAX_COUNT),
    st.sampled_from([MAX_COUNT, MAX_COUNT - 1, 2**31, 2**32 + 1]),
)
_ttls = st.one_of(st.none(), st.sampled_from([0, 1, 59, 60, 61, 300, 600, 900]), st.integers(0, 10**9))
# Offsets of an end from the creation, in µs: around the TTL, half-tenths, before creation, far out.
_offsets_us = st.one_of(
    st.integers(-(10**8), 10**10),
    st.integers(0, 1_000).map(lambda s: s * 10**6),
    st.integers(0, 10_000).map(lambda t: t * 100_000 + 50_000),
    st.integers(-5, 5).map(lambda s: (600 + s) * 10**6),
    st.integers(-3 * 10**15, 3 * 10**15),
)


def _when(us: int, form: int) -> Any:
    """A timestamp in one of the forms exports use: ISO text, epoch seconds, epoch ms, a datetime."""
    moment = _EPOCH + timedelta(microseconds=us)
    if form == 0:
        return moment.isoformat().replace("+00:00", "Z")
    if form == 1:
        return us // 10**6
    if form == 2:
        return us // 1000
    if form == 3:
        return us / 10**6  # fractional seconds: the model rounds them to µs
    return moment


_STATUSES = [None, "active", "expired", "cancelled", " Canceled "]


@st.composite
def raw_sessions(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(st.sampled_from(["api", "seed", "mixed"]))
    record: dict[str, Any] = {"id": draw(st.text(min_size=1, max_size=12))}
    limit, requests = draw(_counts), draw(_counts)
    if shape != "api":
        record["max_requests_per_1_minute"] = limit
        record["ttl_seconds"] = draw(_ttls)
        record["scope"] = {"customer_id": "cust_1"}
    if shape != "seed":
        record["rate_limits"] = {"max_requests_per_1_minute": draw(_counts) if shape == "mixed" else limit}
        record["user"] = "user_1"
    if limit is not None and requests is not None and draw(st.booleans()):
        requests = min(
            MAX_COUNT, max(0, limit + draw(st.integers(-3, 3)))
        )  # around the limit: at, just over, under
    if draw(st.booleans()):
        record["current_requests"] = requests
    created = draw(st.one_of(st.none(), st.integers(_MIN_US, _MAX_US), st.sampled_from([_MIN_US, _MAX_US])))
    form = draw(st.integers(0, 4))
    if created is not None:
        record["created_at"] = _when(created, form)
    base = created if created is not None else draw(st.integers(_MIN_US, _MAX_US))
    for name in ("expires_at", "cancelled_at"):
        if draw(st.booleans()):
            end = min(_MAX_US, max(_MIN_US, base + draw(_offsets_us)))
            record[name] = _when(end, draw(st.integers(0, 4)) if form else 0)
    record["reason"] = draw(_reasons)
    return record


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(raw_sessions(), min_size=10, max_size=25))
def test_vectorized_rules_equal_diagnose_on_random_sessions(records):
    """About 4,000 sessions per run: each drawn record once per status (drawing is the slow part)."""
    sessions = [
        ChatKitSession.model_validate(r | {"status": status}) for r in records for status in _STATUSES
    ]
    assert_same(sessions)


def test_without_evidence_the_other_columns_are_the_same():
    table = session_columns(sample_sessions(500))
    full, lean = diagnose_columns(table), diagnose_columns(table, evidence=False)
    assert "evidence" not in lean.column_names
    assert lean.equals(full.drop_columns(["evidence"]))
