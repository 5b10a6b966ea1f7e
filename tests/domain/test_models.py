"""ChatKitSession accepts what real exports hold, and rejects bad values naming id and field."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from support import FIXTURES

from chatkit.domain.models import ChatKitSession, parse_timestamp, strip_secrets
from chatkit.ingest import import_records

T0 = datetime(2024, 4, 5, 19, 34, 38, tzinfo=UTC)  # 1712345678


def test_seed_shape_validates_with_derived_facts() -> None:
    seed = json.loads((FIXTURES / "seed_session.json").read_text())
    session = ChatKitSession.model_validate(seed)
    assert session.workflow_id == "workflow_alpha"
    assert session.customer_id == "cust_456"
    assert session.rate_limit == 30
    assert session.ttl == 900
    assert session.cancelled_at == T0
    assert session.ended_at == T0
    assert session.config_warnings() == ["ttl 900 s is outside the API's documented 1-600 s"]


@pytest.mark.parametrize(
    "value",
    [
        1712345678,
        1712345678.0,
        "1712345678",
        1712345678000,  # epoch milliseconds
        "1712345678000",
        "2024-04-05T19:34:38Z",
        "2024-04-05T21:34:38+02:00",
        "2024-04-05T14:34:38-05:00",
        "2024-04-05T19:34:38",  # naive = UTC
        datetime(2024, 4, 5, 21, 34, 38, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_timestamps_in_seconds_milliseconds_and_iso_with_offsets(value: object) -> None:
    session = ChatKitSession.model_validate({"id": "cksess_t", "cancelled_at": value})
    assert session.cancelled_at == T0
    assert session.cancelled_at.tzinfo is not None


@pytest.mark.parametrize("value", [1e20, -5, 99999999999999999, "1899-01-01T00:00:00Z", "3000-01-01"])
def test_out_of_range_timestamps_are_errors(value: object) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        ChatKitSession.model_validate({"id": "cksess_t", "created_at": value})


def test_unparsable_timestamp_says_what_is_accepted() -> None:
    with pytest.raises(ValidationError, match="epoch seconds, epoch milliseconds or ISO-8601"):
        ChatKitSession.model_validate({"id": "cksess_t", "created_at": "yesterday"})
    assert parse_timestamp("") is None


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"current_requests": -3}, "current_requests", "must be a whole number ≥ 0, got -3"),
        ({"ttl_seconds": -1}, "ttl_seconds", "must be a whole number ≥ 0, got -1"),
        ({"max_requests_per_1_minute": -10}, "max_requests_per_1_minute", "≥ 0"),
        ({"rate_limits": {"max_requests_per_1_minute": -1}}, "rate_limits.max_requests_per_1_minute", "≥ 0"),
        ({"current_requests": float("nan")}, "current_requests", "NaN"),
        ({"ttl_seconds": float("inf")}, "ttl_seconds", "Infinity"),
        ({"created_at": float("nan")}, "created_at", "NaN"),
        ({"current_requests": "lots"}, "current_requests", "whole number"),
        ({"current_requests": 2.5}, "current_requests", "whole number, got 2.5"),
        ({"current_requests": True}, "current_requests", "not true/false"),
        ({"status": "paused"}, "status", "must be one of 'active', 'expired' or 'cancelled', got 'paused'"),
        ({"workflow": "wf_a"}, "workflow", "must be an object"),
        ({"reason": ["a", "b"]}, "reason", "must be text"),
        ({"workflow": {"tracing": {"enabled": "maybe"}}}, "workflow.tracing.enabled", "true or false"),
        ({"workflow": {"state_variables": {"k": {"x": 1}}}}, "workflow.state_variables.k", "text, a number"),
    ],
)
def test_bad_values_are_errors_naming_id_and_field(record: dict, field: str, words: str) -> None:
    result = import_records([{"id": "cksess_bad", **record}], "test")
    assert result.sessions == []
    assert len(result.errors) == 1
    issue = result.errors[0]
    assert (issue.session_id, issue.field) == ("cksess_bad", field)
    assert words in issue.message
    assert "Input should" not in issue.message  # pydantic's wording is translated


def test_counts_from_csv_floats_are_whole_numbers() -> None:
    session = ChatKitSession.model_validate(
        {"id": "cksess_f", "current_requests": "35.0", "max_requests_per_1_minute": 30.0}
    )
    assert (session.current_requests, session.rate_limit) == (35, 30)


def test_unknown_fields_are_kept_at_every_level() -> None:
    session = ChatKitSession.model_validate(
        {
            "id": "cksess_u",
            "region": "eu",
            "workflow": {"id": "wf", "owner": "team-a"},
            "scope": {"customer_id": "c", "tier": "gold"},
        }
    )
    assert session.model_extra == {"region": "eu"}
    assert session.workflow.model_extra == {"owner": "team-a"}
    assert session.scope.model_extra == {"tier": "gold"}
    assert session.model_dump()["region"] == "eu"


def test_rate_limit_zero_is_accepted_with_a_warning() -> None:
    result = import_records([{"id": "cksess_z", "max_requests_per_1_minute": 0, "current_requests": 3}])
    assert [s.rate_limit for s in result.sessions] == [0]
    assert result.errors == []
    assert any("below the API's minimum" in w.message for w in result.warnings)


def test_secrets_are_removed_at_any_depth() -> None:
    session = ChatKitSession.model_validate(
        {
            "id": "cksess_s",
            "client_secret": "ek_live_TOPSECRET",
            "workflow": {"id": "wf", "state_variables": {"api_key": "sk-1", "plan": "pro"}},
            "meta": [{"Authorization": "Bearer x", "total_tokens": 5}],
        }
    )
    text = session.canonical_json()
    assert "TOPSECRET" not in text and "sk-1" not in text and "Bearer" not in text
    assert session.workflow.state_variables == {"plan": "pro"}
    assert session.model_extra["meta"] == [{"total_tokens": 5}]  # a counter, not a secret
    assert strip_secrets({"a": {"password": 1}}) == {"a": {}}


def test_status_spellings_are_normalised() -> None:
    assert ChatKitSession.model_validate({"id": "x", "status": " Canceled "}).status == "cancelled"
    assert ChatKitSession.model_validate({"id": "x", "status": ""}).status is None


def test_ids_and_versions_that_arrive_as_numbers_are_text() -> None:
    session = ChatKitSession.model_validate({"id": "x", "workflow": {"id": "wf", "version": 1.0}, "user": 42})
    assert (session.workflow.version, session.user) == ("1", "42")


def test_ttl_is_derived_from_expires_at_minus_created_at() -> None:
    session = ChatKitSession.model_validate(
        {"id": "x", "created_at": 1712345078, "expires_at": 1712345678, "status": "expired"}
    )
    assert session.ttl == 600
    assert session.ended_at == T0


def test_nan_never_reaches_canonical_json() -> None:
    # Free-form places (chatkit_configuration, extras) accept anything, so ingest checks them.
    result = import_records([{"id": "x", "chatkit_configuration": {"history": {"recent_threads": math.nan}}}])
    assert result.sessions == []
    assert result.errors[0].field == "chatkit_configuration.history.recent_threads"
