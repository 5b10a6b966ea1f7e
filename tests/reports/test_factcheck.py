"""The fact check: every contradiction with the facts is found, and nothing true is flagged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatkit.domain.models import Category, ChatKitSession, ReportBody, RootCause, Severity
from chatkit.domain.rules import diagnose
from chatkit.reports.analyzer import offline_body
from chatkit.reports.factcheck import FactCheck, fact_check

FIXTURES = Path(__file__).parents[1] / "fixtures"
GOLDEN = Path(__file__).parents[2] / "bench" / "golden" / "cases.jsonl"
QUOTE = (
    "raising workflow_alpha's limit from 30 to 36 would have avoided 9 of 10 rate-limit cancellations "
    "in this data set"
)
TTL_QUOTE = (
    "raising workflow_beta's TTL from 600 s to 901 s would have avoided 9 of 9 TTL expiries in this data set"
)


def seed() -> ChatKitSession:
    # limit 30 per minute, 35 requests (117 %, 5 over), TTL 900 s, cancelled, reason "Rate limit exceeded"
    data = json.loads((FIXTURES / "seed_session.json").read_text())
    data["created_at"] = data["cancelled_at"] - 120
    return ChatKitSession.model_validate(data)


def body(
    summary: str = "The session was rate-limited: 35 requests against a limit of 30 per minute.",
    evidence: tuple[str, ...] = ("35 requests vs limit 30: 117 % of the limit (5 over)",),
    impact: str = "The user was cut off.",
    recovery: tuple[str, ...] = ("Create a new session.",),
    prevention: tuple[str, ...] = ("Raise the limit from 30 to 36.",),
    category: Category = Category.rate_limited,
) -> ReportBody:
    return ReportBody(
        root_cause=RootCause(category=category, summary=summary, evidence=list(evidence)),
        impact=impact,
        recovery_steps=list(recovery),
        prevention=list(prevention),
        severity=Severity.warning,
        confidence=0.9,
    )


def check(
    report: ReportBody, session: ChatKitSession | None = None, quotes: tuple[str, ...] = (QUOTE,)
) -> FactCheck:
    session = session or seed()
    return fact_check(report, session, diagnose(session), quotes)


def messages(result: FactCheck) -> list[str]:
    return [f.message for f in result.findings]


def test_a_true_report_passes() -> None:
    result = check(body())
    assert result.ok and result.count == 0 and result.checked
    assert result.prevention == ["Raise the limit from 30 to 36."] and result.added_quotes == []


def test_the_issue_example_a_30_second_limit() -> None:
    result = check(body(summary="The user hit the 30-second limit and the session was cancelled."))
    assert messages(result) == ["the report says a 30-second limit; the limit is 30 per minute"]
    (finding,) = result.findings
    assert finding.kind == "unit" and finding.field == "root_cause.summary"
    assert finding.says == "30-second limit" and finding.fact == "the limit is 30 per minute"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a limit of 30 seconds", "the report says a 30-second limit; the limit is 30 per minute"),
        ("a 30 s rate limit", "the report says a 30-second limit; the limit is 30 per minute"),
        ("30 requests per second", "the report says 30 per second; the limit is 30 per minute"),
        ("30 req/s", "the report says 30 per second; the limit is 30 per minute"),
        ("30 requests per hour", "the report says 30 per hour; the limit is 30 per minute"),
        ("30 rps", "the report says 30 per second; the limit is 30 per minute"),
    ],
)
def test_the_limit_in_the_wrong_unit(text: str, message: str) -> None:
    assert messages(check(body(impact=f"Users were throttled at {text}."))) == [message]


@pytest.mark.parametrize(
    "text", ["30 per minute", "30 requests/min", "30 rpm", "a limit of 30", "35 requests"]
)
def test_the_limit_in_the_right_unit_passes(text: str) -> None:
    assert check(body(impact=f"The session reached {text}.")).ok


def test_a_wrong_limit_value() -> None:
    result = check(body(summary="35 requests exceeded the limit of 25."))
    assert messages(result) == ["the report says a limit of 25; the limit is 30 per minute"]
    assert result.findings[0].kind == "limit"


def test_a_wrong_per_minute_value_names_the_limit_and_the_requests() -> None:
    assert messages(check(body(impact="It sent 50 requests per minute."))) == [
        "the report says 50 per minute; the limit is 30 per minute and the session made 35 requests"
    ]


def test_a_wrong_request_count() -> None:
    assert messages(check(body(summary="The session made 40 requests, over its limit."))) == [
        "the report says 40 requests; the session made 35 requests against a limit of 30 per minute"
    ]


def test_the_overage_and_the_quote_numbers_are_facts() -> None:
    # 5 over; 36 and "9 of 10" come from the what-if quote
    report = body(
        summary="5 requests over the limit of 30.", prevention=("Raise it to 36 requests per minute.",)
    )
    assert check(report).ok


def test_a_wrong_ttl() -> None:
    result = check(body(evidence=("The TTL of 300 s was not reached.",)))
    assert messages(result) == [
        "the report says 300 seconds; the TTL is 900 s and the session ended after 120 s"
    ]
    assert result.findings[0].kind == "ttl"


def test_the_right_ttl_and_time_to_end_pass_in_any_unit() -> None:
    report = body(evidence=("TTL 900 s (15 minutes); cancelled 120 s after creation", "after 2 minutes"))
    assert check(report).ok


def test_a_wrong_duration_in_the_root_cause() -> None:
    assert messages(check(body(summary="The session was cancelled after 45 seconds."))) == [
        "the report says 45 seconds; the TTL is 900 s and the session ended after 120 s"
    ]


def test_advice_durations_not_tied_to_the_ttl_are_not_facts() -> None:
    assert check(body(recovery=("Wait 10 seconds, then retry.",))).ok


@pytest.mark.parametrize("text", ["117 % of the limit", "116.7% of its limit", "17 % over", "90 % alert"])
def test_true_percentages_pass(text: str) -> None:
    assert check(body(impact=f"Usage: {text}.")).ok


def test_a_wrong_percentage() -> None:
    assert messages(check(body(summary="Requests reached 150% of the limit."))) == [
        "the report says 150 %; the session used 117 % of its limit (35 of 30)"
    ]


def test_an_invented_id() -> None:
    result = check(body(evidence=("session cksess_999 hit the limit",)))
    assert messages(result) == [
        "the report names cksess_999, which is not this session's (its ids: cksess_123, cust_456, workflow_alpha)"
    ]
    assert result.findings[0].kind == "id"


def test_the_sessions_own_ids_and_field_names_pass() -> None:
    report = body(
        summary="cksess_123 of cust_456 on workflow_alpha exceeded max_requests_per_1_minute.",
        evidence=("session_id cksess_123; workflow_id workflow_alpha; customer_id cust_456",),
    )
    assert check(report).ok


def test_known_ids_from_the_caller_pass() -> None:
    session = seed()
    report = body(evidence=("like session cksess_777 before it",))
    assert not fact_check(report, session, diagnose(session), ()).ok
    assert fact_check(report, session, diagnose(session), (), known_ids=["cksess_777"]).ok


def test_a_wrong_category_the_numbers_decide_is_replaced_by_the_rules() -> None:
    result = check(body(category=Category.ttl_expired, summary="The session expired."))
    assert messages(result) == [
        "the model said ttl_expired; the data says rate_limited (35 requests vs limit 30: 117 % of the "
        "limit (5 over)): the rules' category is shown"
    ]
    assert result.findings[0].kind == "category"
    assert result.body is not None and result.body.root_cause.category == Category.rate_limited


def test_a_wrong_category_against_a_verdict_from_words_is_flagged_and_kept() -> None:
    words = ChatKitSession.model_validate(
        {"id": "cksess_w", "status": "cancelled", "reason": "Rate limit exceeded"}
    )
    result = check(body(category=Category.ttl_expired, summary="The session expired.", evidence=()), words)
    assert messages(result) == ["the report says ttl_expired; the rules say rate_limited"]
    assert result.body is not None and result.body.root_cause.category == Category.ttl_expired


def test_a_category_named_in_the_summary() -> None:
    assert messages(check(body(summary="This was cancelled_manually by an admin."))) == [
        "the report's summary says cancelled_manually; the rules say rate_limited"
    ]


def test_an_invented_number_in_the_evidence() -> None:
    assert messages(check(body(evidence=("35 requests vs limit 30", "42 retries in a row")))) == [
        "the report's evidence says 42, a number no fact of the session has"
    ]


def test_several_contradictions_are_each_found_once() -> None:
    report = body(
        summary="The 30-second limit was hit with 40 requests.",
        impact="The 30-second limit cut the user off.",
        evidence=("150% of the limit",),
    )
    assert messages(check(report)) == [
        "the report says a 30-second limit; the limit is 30 per minute",
        "the report says 40 requests; the session made 35 requests against a limit of 30 per minute",
        "the report says 150 %; the session used 117 % of its limit (35 of 30)",
    ]


def test_prevention_without_numbers_gets_the_quotes() -> None:
    result = check(
        body(prevention=("Raise the limit.", "Retry with backoff on 429.")), quotes=(QUOTE, TTL_QUOTE)
    )
    assert result.added_quotes == [
        QUOTE[0].upper() + QUOTE[1:] + ".",
        TTL_QUOTE[0].upper() + TTL_QUOTE[1:] + ".",
    ]
    assert result.prevention == ["Raise the limit.", "Retry with backoff on 429.", *result.added_quotes]


def test_prevention_carrying_the_number_is_left_alone() -> None:
    result = check(body(prevention=("Set the limit to 36 per minute.",)), quotes=(QUOTE, TTL_QUOTE))
    assert result.added_quotes == [TTL_QUOTE[0].upper() + TTL_QUOTE[1:] + "."]


def test_no_quotes_no_amendment() -> None:
    result = check(body(prevention=("Raise the limit.",)), quotes=())
    assert result.prevention == ["Raise the limit."] and result.added_quotes == []


def test_offline_reports_pass_trivially() -> None:
    session = seed()
    wrong = body(summary="The 30-second limit.", category=Category.active)
    result = fact_check(wrong, session, diagnose(session), (QUOTE,), source="offline")
    assert result.ok and not result.checked and result.prevention == wrong.prevention


def test_a_ttl_session_with_a_limit_of_30_per_minute() -> None:
    # the trap from the golden set: TTL 60 s, limit 30 per minute
    session = ChatKitSession.model_validate(
        {
            "id": "cksess_t",
            "max_requests_per_1_minute": 30,
            "current_requests": 8,
            "ttl_seconds": 60,
            "status": "expired",
            "created_at": 1767225600,
            "expires_at": 1767225660,
        }
    )
    ok = body(category=Category.ttl_expired, summary="It expired after its 60-second TTL.", evidence=())
    assert fact_check(ok, session, diagnose(session)).ok
    wrong = body(category=Category.ttl_expired, summary="It expired at its 30-second limit.", evidence=())
    assert messages(fact_check(wrong, session, diagnose(session))) == [
        "the report says a 30-second limit; the limit is 30 per minute"
    ]


def test_sessions_without_numbers_do_not_invent_facts() -> None:
    session = ChatKitSession.model_validate({"id": "cksess_bare", "status": "cancelled"})
    report = body(
        category=Category.undetermined,
        summary="Nothing decides it; 30 requests may have been sent.",
        evidence=(),
    )
    assert fact_check(report, session, diagnose(session)).ok
    # evidence must be facts: numbers the session does not have are invented
    invented = body(category=Category.undetermined, evidence=("35 requests vs limit 30",))
    assert messages(fact_check(invented, session, diagnose(session))) == [
        "the report's evidence says 35, a number no fact of the session has",
        "the report's evidence says 30, a number no fact of the session has",
    ]


def _golden() -> list[dict[str, Any]]:
    return [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("case", _golden(), ids=lambda c: c["id"])
def test_the_offline_report_of_every_golden_case_has_no_finding(case: dict[str, Any]) -> None:
    """The offline report states only facts: the checker run on it must find nothing (no false alarms)."""
    session = ChatKitSession.model_validate(case["session"])
    diagnosis = diagnose(session)
    quotes = [QUOTE, TTL_QUOTE]
    result = fact_check(offline_body(session, diagnosis, quotes), session, diagnosis, quotes)
    assert result.findings == []


@pytest.mark.parametrize(
    "summary",
    [
        "The session exceeded its limit of 36 requests per minute.",
        "35 requests went over the 36 per minute limit.",
        "It hit the 36-request limit of workflow_alpha.",
    ],
)
def test_the_what_if_proposal_called_the_current_limit_is_flagged(summary: str) -> None:
    result = check(body(summary=summary))
    expected = (
        "the report calls 36 the current limit; the limit is 30 per minute (36 is the what-if proposal)"
    )
    assert expected in messages(result)
    assert {f.kind for f in result.findings if f.message == expected} == {"limit"}


@pytest.mark.parametrize(
    "advice",
    [
        "Raise the limit from 30 to 36 per minute.",
        "A new limit of 36 per minute would have avoided 9 of 10 cancellations.",
        "Set the limit to 36.",
        "Consider a limit of 36 requests per minute.",
    ],
)
def test_the_what_if_proposal_as_a_proposal_passes(advice: str) -> None:
    result = check(body(prevention=(advice,)))
    assert not any("current limit" in m for m in messages(result)), messages(result)
