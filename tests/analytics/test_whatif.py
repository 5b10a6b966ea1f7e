"""What-if numbers on a hand-made frame where every answer can be counted by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from chatkit.analytics.frame import MISSING_LABEL, empty_frame, sessions_frame
from chatkit.analytics.whatif import WhatIfResult, avoidance_thresholds, prevention_quotes, what_if
from chatkit.domain.models import ChatKitSession


def rate_limited(i: int, workflow: str | None, limit: int, requests: int | None) -> ChatKitSession:
    return ChatKitSession.model_validate(
        {
            "id": f"r{workflow}{i}",
            "status": "cancelled",
            "workflow": {"id": workflow} if workflow else None,
            "max_requests_per_1_minute": limit,
            "current_requests": requests,
            "reason": "Rate limit exceeded",
        }
    )


def ttl_expired(i: int, workflow: str, ttl: int, lived: int | None) -> ChatKitSession:
    fields = {"created_at": 1741950000, "cancelled_at": 1741950000 + lived} if lived is not None else {}
    return ChatKitSession.model_validate(
        {
            "id": f"t{workflow}{i}",
            "status": "cancelled",
            "workflow": {"id": workflow},
            "ttl_seconds": ttl,
            "reason": "Session expired",
            **fields,
        }
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    sessions = (
        # workflow_alpha: limit 30, requests 31..40 (10 sessions)
        [rate_limited(i, "workflow_alpha", 30, 30 + i) for i in range(1, 11)]
        # workflow_beta: limit 10, requests 12, 12, 20 and one without a count
        + [rate_limited(i, "workflow_beta", 10, r) for i, r in enumerate([12, 12, 20, None])]
        # workflow_beta TTL 300: lived 300, 310, 350 and one unknown
        + [ttl_expired(i, "workflow_beta", 300, lived) for i, lived in enumerate([300, 310, 350, None])]
        # an active session and a manual one, which no what-if touches
        + [
            ChatKitSession(id="a", status="active", workflow={"id": "workflow_alpha"}),
            ChatKitSession(id="m", status="cancelled", reason="Cancelled by admin"),
        ]
    )
    out = sessions_frame(sessions)
    assert out["category"].value_counts().to_dict() == {
        "rate_limited": 14,
        "ttl_expired": 4,
        "active": 1,
        "cancelled_manually": 1,
        "undetermined": 0,
    }
    return out


def test_global_limit(frame):
    r = what_if(frame, limit=36)
    assert (r.rate_limited_total, r.rate_limited_evaluable, r.rate_limited_avoided) == (14, 13, 9)
    # requests 31..36 from alpha (6) and 12, 12, 20 from beta (3): 9 avoided
    assert (r.ttl_total, r.ttl_evaluable, r.ttl_avoided) == (4, 3, 0)
    assert r.total == 18
    assert r.avoided == 9
    assert r.avoided_pct == pytest.approx(50.0)


def test_per_workflow_limit_and_ttl(frame):
    r = what_if(frame, limit=12, ttl_s=311, workflow="workflow_beta")
    assert r.workflow == "workflow_beta"
    assert (r.rate_limited_total, r.rate_limited_evaluable, r.rate_limited_avoided) == (4, 3, 2)
    assert (r.ttl_total, r.ttl_evaluable, r.ttl_avoided) == (4, 3, 2)  # 300 and 310 < 311
    assert "a limit of 12/min would have avoided 2 of 4 rate-limit cancellations" in r.describe()
    assert "(1 without a request count cannot be judged)" in r.describe()


def test_ttl_boundary_is_strict(frame):
    assert what_if(frame, ttl_s=300).ttl_avoided == 0  # lived exactly 300 s: a 300 s TTL still ends it
    assert what_if(frame, ttl_s=301).ttl_avoided == 1


def test_nothing_proposed_avoids_nothing(frame):
    r = what_if(frame)
    assert r.avoided == 0
    assert "choose a limit or a TTL" in r.describe()


def test_unknown_workflow_and_empty_frame():
    assert what_if(empty_frame(), limit=10) == WhatIfResult(limit=10)
    assert what_if(empty_frame(), limit=10).avoided_pct is None


def test_missing_workflow_label(frame):
    extra = sessions_frame([rate_limited(1, None, 5, 7)])
    both = pd.concat([frame, extra], ignore_index=True)
    assert what_if(both, limit=7, workflow=MISSING_LABEL).rate_limited_avoided == 1


def test_avoidance_thresholds(frame):
    alpha = avoidance_thresholds(frame, "workflow_alpha")
    # requests 31..40: 50 % needs 5 of 10 -> 35; 90 % needs 9 -> 39; 99 % needs all 10 -> 40
    assert alpha["limit"] == {"p50": 35, "p90": 39, "p99": 40}
    assert alpha["ttl_s"] == {"p50": None, "p90": None, "p99": None}
    assert alpha["rate_limited_evaluable"] == 10
    beta = avoidance_thresholds(frame, "workflow_beta")
    assert beta["limit"] == {"p50": 12, "p90": 20, "p99": 20}
    # lived 300, 310, 350: a TTL must be strictly longer -> 311 for 2 of 3, 351 for all
    assert beta["ttl_s"] == {"p50": 311, "p90": 351, "p99": 351}
    assert beta["ttl_evaluable"] == 3
    # each threshold really avoids at least its share
    for share, limit in alpha["limit"].items():
        r = what_if(frame, limit=limit, workflow="workflow_alpha")
        assert r.rate_limited_avoided / r.rate_limited_evaluable >= int(share[1:]) / 100


def test_prevention_quotes(frame):
    quotes = prevention_quotes(frame)
    assert quotes == [
        "raising workflow_alpha's limit from 30 to 39 would have avoided 9 of 10 rate-limit cancellations "
        "in this data set",
        "raising workflow_beta's limit from 10 to 20 would have avoided 3 of 4 rate-limit cancellations "
        "in this data set",
        "raising workflow_beta's TTL from 300 s to 351 s would have avoided 3 of 4 TTL expiries in this data set",
    ]
    assert prevention_quotes(frame, workflow="workflow_alpha") == quotes[:1]
    assert prevention_quotes(empty_frame()) == []


def test_quotes_mention_the_api_ttl_maximum():
    sessions = [ttl_expired(i, "wf", 600, 650) for i in range(3)]
    (quote,) = prevention_quotes(sessions_frame(sessions))
    assert quote.startswith("raising wf's TTL from 600 s to 651 s would have avoided 3 of 3")
    assert "above the API's documented maximum of 600 s" in quote
