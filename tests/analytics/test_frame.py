"""The sessions frame: typed columns, filters and aggregations."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from chatkit.analytics.frame import (
    FRAME_COLUMNS,
    MISSING_LABEL,
    Filters,
    apply_filters,
    counts_by,
    counts_over_time,
    empty_frame,
    kpis,
    sessions_frame,
    utilization_percentiles,
)
from chatkit.domain.models import ChatKitSession
from chatkit.domain.rules import diagnose_all

RECORDS = [
    {  # rate limited, 35 vs 30
        "id": "s1",
        "status": "cancelled",
        "workflow": {"id": "wf_a", "version": "1"},
        "scope": {"customer_id": "c1"},
        "max_requests_per_1_minute": 30,
        "current_requests": 35,
        "ttl_seconds": 600,
        "created_at": "2025-03-14T10:00:00Z",
        "cancelled_at": "2025-03-14T10:05:00Z",
        "reason": "Rate limit exceeded",
    },
    {  # ttl expired (API shape, epoch seconds)
        "id": "s2",
        "status": "expired",
        "workflow": {"id": "wf_a"},
        "user": "c2",
        "max_requests_per_1_minute": 30,
        "current_requests": 3,
        "created_at": 1741950000,  # 2025-03-14T11:00:00Z
        "expires_at": 1741950600,
        "client_secret": "ek_secret",
    },
    {  # manual
        "id": "s3",
        "status": "cancelled",
        "workflow": {"id": "wf_b"},
        "scope": {"customer_id": "c1"},
        "max_requests_per_1_minute": 10,
        "current_requests": 5,
        "created_at": "2025-03-14T11:30:00Z",
        "cancelled_at": "2025-03-14T11:31:00Z",
        "ttl_seconds": 600,
        "reason": "Cancelled by admin",
    },
    {  # active
        "id": "s4",
        "status": "active",
        "workflow": {"id": "wf_b"},
        "max_requests_per_1_minute": 10,
        "current_requests": 9,
        "created_at": "2025-03-14T12:00:00Z",
    },
    {  # undetermined, no workflow, limit 0
        "id": "s5",
        "status": "cancelled",
        "max_requests_per_1_minute": 0,
        "ttl_seconds": 900,
    },
]


@pytest.fixture
def sessions() -> list[ChatKitSession]:
    return [ChatKitSession.model_validate(r) for r in RECORDS]


@pytest.fixture
def frame(sessions) -> pd.DataFrame:
    return sessions_frame(sessions)


def test_columns_and_types(frame):
    assert list(frame.columns) == FRAME_COLUMNS
    assert isinstance(frame["category"].dtype, pd.CategoricalDtype)
    assert isinstance(frame["status"].dtype, pd.CategoricalDtype)
    assert frame["severity"].dtype.ordered
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["ended_at"].dtype) == "datetime64[ns, UTC]"
    for column in ("rate_limit", "requests", "overage", "ttl_s"):
        assert str(frame[column].dtype) == "Int64", column
    for column in ("utilization", "time_to_end_s", "confidence"):
        assert str(frame[column].dtype) == "Float64", column
    assert str(frame["has_config_warning"].dtype) == "boolean"


def test_values(frame):
    row = frame.set_index("session_id").loc["s1"]
    assert row["category"] == "rate_limited"
    assert row["utilization"] == pytest.approx(35 / 30)
    assert row["overage"] == 5
    assert row["time_to_end_s"] == 300
    assert row["created_at"] == pd.Timestamp("2025-03-14T10:00:00Z")
    s2 = frame.set_index("session_id").loc["s2"]
    assert s2["category"] == "ttl_expired"
    assert s2["ttl_s"] == 600  # derived from expires_at - created_at
    assert s2["ended_at"] == pd.Timestamp("2025-03-14T11:10:00Z")
    assert s2["customer_id"] == "c2"  # `user` is the customer when no scope is given
    s5 = frame.set_index("session_id").loc["s5"]
    assert s5["category"] == "undetermined"
    assert pd.isna(s5["utilization"])  # limit 0
    assert pd.isna(s5["workflow_id"])
    assert bool(s5["has_config_warning"])  # limit 0 and TTL 900 are outside the API's ranges
    assert frame["flags"].tolist() == ["", "", "", "", ""]


def test_flags_are_joined_text():
    s = ChatKitSession(
        id="x",
        status="cancelled",
        max_requests_per_1_minute=0,
        current_requests=0,
        reason="Rate limit exceeded",
    )
    assert sessions_frame([s])["flags"].tolist() == ["limit_is_zero, reason_contradicts_numbers"]


def test_given_diagnoses_are_used_and_must_match(sessions):
    diagnoses = diagnose_all(sessions)
    assert sessions_frame(sessions, diagnoses).equals(sessions_frame(sessions))
    with pytest.raises(ValueError, match="5 sessions but 4 diagnoses"):
        sessions_frame(sessions, diagnoses[:4])


def test_empty_frame_has_the_same_types(frame):
    empty = sessions_frame([])
    assert list(empty.columns) == FRAME_COLUMNS
    assert empty.dtypes.equals(frame.dtypes)
    assert empty_frame().dtypes.equals(frame.dtypes)


def test_filters(frame):
    def ids(filters: Filters) -> list[str]:
        return apply_filters(frame, filters)["session_id"].tolist()

    assert ids(Filters()) == ["s1", "s2", "s3", "s4", "s5"]
    assert ids(Filters(categories=["rate_limited", "active"])) == ["s1", "s4"]
    assert ids(Filters(workflows=["wf_b"])) == ["s3", "s4"]
    assert ids(Filters(workflows=[MISSING_LABEL])) == ["s5"]
    assert ids(Filters(customers=["c1"])) == ["s1", "s3"]
    assert ids(Filters(statuses=["expired"])) == ["s2"]
    assert ids(Filters(search="ADMIN")) == ["s3"]
    assert ids(Filters(search="wf_a", customers=["c2"])) == ["s2"]
    # time = end, else creation; bounds inclusive; naive bounds are UTC; rows without time drop out
    assert ids(Filters(start=datetime(2025, 3, 14, 11, 10))) == ["s2", "s3", "s4"]
    assert ids(Filters(end=datetime(2025, 3, 14, 10, 5, tzinfo=UTC))) == ["s1"]
    assert ids(Filters(categories=["nonsense"])) == []


def test_filters_from_query_values():
    f = Filters.model_validate({"categories": ["active"], "start": "2025-03-14T10:00:00", "junk": "x"})
    assert f.start == datetime(2025, 3, 14, 10, tzinfo=UTC)
    assert not f.is_empty()
    assert Filters().is_empty()


def test_kpis(frame):
    k = kpis(frame)
    assert k["sessions"] == 5
    assert k["cancelled_pct"] == pytest.approx(60.0)
    assert k["rate_limited_pct"] == pytest.approx(20.0)
    assert k["ttl_expired_pct"] == pytest.approx(20.0)
    utils = sorted([35 / 30, 3 / 30, 5 / 10, 9 / 10])
    assert k["utilization_median"] == pytest.approx((utils[1] + utils[2]) / 2)
    assert k["utilization_p95"] is not None


def test_kpis_empty():
    k = kpis(empty_frame())
    assert k["sessions"] == 0
    assert k["cancelled_pct"] is None
    assert k["utilization_median"] is None


def test_counts_by(frame):
    out = counts_by(frame, "workflow_id")
    assert out.to_dict("records") == [
        {"workflow_id": "wf_a", "count": 2, "cancellations": 2},
        {"workflow_id": "wf_b", "count": 2, "cancellations": 1},
        {"workflow_id": MISSING_LABEL, "count": 1, "cancellations": 1},
    ]
    assert len(counts_by(frame, "workflow_id", top=1)) == 1
    by_category = counts_by(frame, "category")
    assert by_category.set_index("category")["count"].to_dict() == {
        "rate_limited": 1,
        "ttl_expired": 1,
        "cancelled_manually": 1,
        "active": 1,
        "undetermined": 1,
    }
    with pytest.raises(KeyError):
        counts_by(frame, "nope")


def test_counts_over_time(frame):
    out = counts_over_time(frame, "h")
    assert out["time"].tolist() == [
        pd.Timestamp("2025-03-14T10:00:00Z"),
        pd.Timestamp("2025-03-14T11:00:00Z"),
    ]
    assert out["rate_limited"].tolist() == [1, 0]
    assert out["ttl_expired"].tolist() == [0, 1]
    assert out["cancelled_manually"].tolist() == [0, 1]
    assert "active" not in out.columns
    daily = counts_over_time(frame, "D")
    assert len(daily) == 1
    assert int(daily.drop(columns="time").to_numpy().sum()) == 3  # s5 has no time at all


def test_counts_over_time_fills_gaps():
    sessions = [
        ChatKitSession(
            id="a", status="cancelled", created_at="2025-03-14T01:00:00Z", reason="cancelled by user"
        ),
        ChatKitSession(
            id="b", status="cancelled", created_at="2025-03-14T04:30:00Z", reason="cancelled by user"
        ),
    ]
    out = counts_over_time(sessions_frame(sessions), "h")
    assert out["cancelled_manually"].tolist() == [1, 0, 0, 1]


def test_counts_over_time_empty():
    out = counts_over_time(empty_frame())
    assert out.empty
    assert "time" in out.columns


def test_utilization_percentiles(frame):
    p = utilization_percentiles(frame, (50, 100))
    assert p["p100"] == pytest.approx(35 / 30)
    assert utilization_percentiles(empty_frame()) == {"p50": None, "p90": None, "p95": None, "p99": None}
