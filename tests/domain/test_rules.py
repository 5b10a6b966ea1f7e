"""The diagnosis rules, one test per rule, plus the edge cases the rules table promises."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ROOT

from chatkit.domain.models import Category, ChatKitSession, Severity
from chatkit.domain.rules import RULES_MARKDOWN, diagnose, diagnose_all
from chatkit.domain.sample import SEED_SESSION as SEED

T0 = "2025-03-14T12:00:00Z"


def session(**fields: Any) -> ChatKitSession:
    base: dict[str, Any] = {"id": "cksess_test", "status": "cancelled"}
    return ChatKitSession.model_validate(base | fields)


def at(seconds: int) -> str:
    """An ISO time `seconds` after T0."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"2025-03-14T{12 + hours:02d}:{minutes:02d}:{secs:02d}Z"


def test_seed_example_is_rate_limited_at_117_percent():
    d = diagnose(ChatKitSession.model_validate(SEED))
    assert d.category == Category.rate_limited
    assert d.severity == Severity.warning
    assert d.confidence == 0.95
    assert "35 requests vs limit 30: 117 % of the limit (5 over)" in d.evidence
    assert d.utilization == pytest.approx(35 / 30)
    assert d.overage == 5
    assert d.ttl_s == 900
    assert d.flags == []
    assert d.missing_fields == []


def test_rate_limited_from_numbers_alone():
    d = diagnose(session(max_requests_per_1_minute=10, current_requests=12))
    assert d.category == Category.rate_limited
    assert d.confidence == 0.85
    assert "12 requests vs limit 10: 120 % of the limit (2 over)" in d.evidence


def test_rate_limited_critical_at_150_percent():
    assert diagnose(session(max_requests_per_1_minute=10, current_requests=15)).severity == Severity.critical
    assert diagnose(session(max_requests_per_1_minute=10, current_requests=14)).severity == Severity.warning


@pytest.mark.parametrize("reason", ["Rate limit exceeded", "HTTP 429", "Too Many Requests", "rate_limit"])
def test_rate_limited_from_reason_when_numbers_missing(reason):
    d = diagnose(session(reason=reason, max_requests_per_1_minute=30))
    assert d.category == Category.rate_limited
    assert d.confidence == 0.6
    assert d.missing_fields == ["current_requests"]
    assert any("current_requests would confirm it" in e for e in d.evidence)


def test_limit_zero_never_divides():
    d = diagnose(session(max_requests_per_1_minute=0, current_requests=4))
    assert d.category == Category.rate_limited
    assert d.severity == Severity.critical
    assert d.utilization is None
    assert d.overage == 4
    assert "limit_is_zero" in d.flags
    assert any("the limit is 0" in e for e in d.evidence)


def test_limit_zero_without_requests_is_not_over():
    d = diagnose(session(max_requests_per_1_minute=0, current_requests=0, reason="Cancelled by admin"))
    assert d.category == Category.cancelled_manually
    assert d.utilization is None


def test_at_the_limit_is_not_over():
    d = diagnose(session(max_requests_per_1_minute=30, current_requests=30, reason="cancelled by user"))
    assert d.category == Category.cancelled_manually
    assert "30 requests vs limit 30: 100 % of the limit (at the limit, not over)" in d.evidence


def test_expired_status_is_ttl_expired():
    d = diagnose(session(status="expired"))
    assert d.category == Category.ttl_expired
    assert d.confidence == 0.85
    assert d.evidence[0].startswith("status is expired")


def test_expired_status_with_timing_agreeing():
    d = diagnose(session(status="expired", created_at=T0, expires_at=at(600)))
    assert d.category == Category.ttl_expired
    assert d.confidence == 0.95
    assert d.ttl_s == 600
    assert d.time_to_end_s == 600
    assert "expired 600 s after creation; TTL 600 s (100 % of TTL)" in d.evidence


def test_cancelled_after_ttl_is_ttl_expired():
    d = diagnose(session(created_at=T0, cancelled_at=at(912), ttl_seconds=900))
    assert d.category == Category.ttl_expired
    assert "cancelled 912 s after creation; TTL 900 s (101 % of TTL)" in d.evidence
    assert d.time_to_end_s == 912


def test_short_ttl_is_critical():
    d = diagnose(session(created_at=T0, cancelled_at=at(45), ttl_seconds=30))
    assert d.category == Category.ttl_expired
    assert d.severity == Severity.critical


@pytest.mark.parametrize("reason", ["Session expired", "TTL reached", "timeout"])
def test_ttl_from_reason_when_timing_missing(reason):
    d = diagnose(session(reason=reason, ttl_seconds=600))
    assert d.category == Category.ttl_expired
    assert d.confidence == 0.6
    assert d.missing_fields == ["created_at", "cancelled_at"]


@pytest.mark.parametrize(
    "reason", ["Cancelled by admin", "User closed the chat", "manual cancellation", "Closed by operator"]
)
def test_manual_when_numbers_rule_out_limit_and_ttl(reason):
    d = diagnose(
        session(
            reason=reason,
            max_requests_per_1_minute=30,
            current_requests=3,
            created_at=T0,
            cancelled_at=at(100),
            ttl_seconds=600,
        )
    )
    assert d.category == Category.cancelled_manually
    assert d.severity == Severity.info
    assert d.confidence == 0.9


def test_manual_with_numbers_missing_is_less_certain():
    d = diagnose(session(reason="Cancelled by admin"))
    assert d.category == Category.cancelled_manually
    assert d.confidence == 0.7


def test_active():
    d = diagnose(session(status="active", max_requests_per_1_minute=10, current_requests=2))
    assert d.category == Category.active
    assert d.severity == Severity.info
    assert d.confidence == 1.0


def test_active_near_the_limit_is_a_warning():
    d = diagnose(session(status="active", max_requests_per_1_minute=10, current_requests=9))
    assert d.severity == Severity.warning


def test_active_with_cancel_time_is_treated_as_cancelled():
    d = diagnose(session(status="active", cancelled_at=T0, reason="Cancelled by admin"))
    assert d.category == Category.cancelled_manually
    assert "status_conflict" in d.flags


def test_undetermined_names_exactly_the_missing_fields():
    d = diagnose(session(max_requests_per_1_minute=30, ttl_seconds=600, cancelled_at=T0, reason="n/a"))
    assert d.category == Category.undetermined
    assert d.missing_fields == ["current_requests", "created_at"]
    assert "cannot decide the cause: current_requests, created_at missing" in d.evidence
    assert d.confidence == 0.3


def test_undetermined_api_only_record():
    d = diagnose(session(max_requests_per_1_minute=10, expires_at=T0))
    assert d.category == Category.undetermined
    assert d.missing_fields == ["current_requests", "created_at", "cancelled_at", "ttl_seconds", "reason"]


def test_undetermined_without_status_names_status():
    d = diagnose(ChatKitSession(id="x"))
    assert d.category == Category.undetermined
    assert d.missing_fields[0] == "status"
    assert "status_missing" in d.flags


def test_undetermined_when_everything_known_but_nothing_explains_it():
    d = diagnose(
        session(
            max_requests_per_1_minute=30,
            current_requests=3,
            created_at=T0,
            cancelled_at=at(60),
            ttl_seconds=600,
        )
    )
    assert d.category == Category.undetermined
    assert d.missing_fields == ["reason"]


def test_rate_reason_contradicted_by_numbers_goes_with_the_numbers():
    d = diagnose(session(max_requests_per_1_minute=30, current_requests=28, reason="Rate limit exceeded"))
    assert d.category != Category.rate_limited
    assert d.category == Category.undetermined
    assert d.severity == Severity.warning
    assert "reason_contradicts_numbers" in d.flags
    assert "28 requests vs limit 30: 93 % of the limit (2 under)" in d.evidence
    assert any("the numbers win" in e for e in d.evidence)


def test_contradicted_reason_lowers_the_confidence_of_a_numeric_verdict():
    fields = {"max_requests_per_1_minute": 30, "created_at": T0, "cancelled_at": at(912), "ttl_seconds": 900}
    clean = diagnose(session(current_requests=28, **fields))
    contradicted = diagnose(session(current_requests=28, reason="Rate limit exceeded", **fields))
    assert clean.category == contradicted.category == Category.ttl_expired
    assert contradicted.confidence == pytest.approx(clean.confidence - 0.3)
    assert contradicted.flags == ["reason_contradicts_numbers"]


def test_ttl_reason_contradicted_by_timing():
    d = diagnose(session(created_at=T0, cancelled_at=at(100), ttl_seconds=600, reason="Session expired"))
    assert d.category == Category.undetermined
    assert "reason_contradicts_numbers" in d.flags


def test_manual_reason_contradicted_by_overage_is_rate_limited():
    d = diagnose(session(max_requests_per_1_minute=10, current_requests=14, reason="Cancelled by admin"))
    assert d.category == Category.rate_limited
    assert d.flags == ["reason_contradicts_numbers"]
    assert d.confidence == pytest.approx(0.55)


def test_limit_and_ttl_both_exceeded():
    fields = {
        "max_requests_per_1_minute": 10,
        "current_requests": 12,
        "created_at": T0,
        "cancelled_at": at(700),
    }
    d = diagnose(session(ttl_seconds=600, **fields))
    assert d.category == Category.rate_limited
    assert "limit_and_ttl_exceeded" in d.flags
    assert d.confidence == pytest.approx(0.65)
    by_reason = diagnose(session(ttl_seconds=600, reason="Session expired", **fields))
    assert by_reason.category == Category.ttl_expired


def test_end_before_creation_is_ignored_and_flagged():
    d = diagnose(session(created_at=at(100), cancelled_at=T0, ttl_seconds=10))
    assert d.time_to_end_s is None
    assert "ended_before_created" in d.flags
    assert d.category == Category.undetermined


def test_long_reason_is_quoted_but_capped():
    d = diagnose(session(reason="x" * 1000))
    quoted = next(e for e in d.evidence if e.startswith("reason:"))
    assert len(quoted) < 230


def test_deterministic_and_diagnose_all_keeps_order():
    sessions = [session(id=f"s{i}", current_requests=i, max_requests_per_1_minute=5) for i in range(10)]
    first = diagnose_all(sessions)
    assert [d.session_id for d in first] == [f"s{i}" for i in range(10)]
    assert first == diagnose_all(iter(sessions))


def test_rules_table_is_markdown_and_in_the_docstring():
    import chatkit.domain.rules as module

    assert RULES_MARKDOWN.startswith("| # | Category |")
    table = [line for line in RULES_MARKDOWN.splitlines() if line.startswith("|")]
    assert len(table) == 10  # header, separator, eight rules
    assert all(line in (module.__doc__ or "") for line in table)  # the docstring shows the same table
    for category in Category:
        assert f"`{category.value}`" in RULES_MARKDOWN
        assert f"`{category.value}`" in (module.__doc__ or "")


_counts = st.one_of(st.none(), st.integers(min_value=0, max_value=500))
_times = st.one_of(st.none(), st.integers(min_value=1_741_900_000, max_value=1_742_000_000))
_reasons = st.one_of(
    st.none(),
    st.sampled_from(
        ["Rate limit exceeded", "429", "Session expired", "timeout", "Cancelled by admin", "n/a"]
    ),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([None, "active", "expired", "cancelled"]),
    limit=_counts,
    requests=_counts,
    ttl=_counts,
    created=_times,
    ended=_times,
    reason=_reasons,
)
def test_any_session_gets_a_consistent_diagnosis(status, limit, requests, ttl, created, ended, reason):
    s = ChatKitSession(
        id="h",
        status=status,
        max_requests_per_1_minute=limit,
        current_requests=requests,
        ttl_seconds=ttl,
        created_at=created,
        cancelled_at=ended,
        reason=reason,
    )
    d = diagnose(s)
    assert 0 <= d.confidence <= 1
    assert d.evidence
    if limit and requests is not None:
        assert d.utilization == pytest.approx(requests / limit)
    else:
        assert d.utilization is None
    over = limit is not None and requests is not None and requests > limit
    if over and d.category not in (Category.active, Category.ttl_expired):
        assert d.category == Category.rate_limited  # numbers beat words
    if d.category == Category.rate_limited and limit is not None and requests is not None:
        assert requests > limit  # never rate-limited against the numbers
    if d.category == Category.undetermined and d.missing_fields:
        assert any(", ".join(d.missing_fields) in e for e in d.evidence)
    assert diagnose(s) == d  # deterministic


def test_the_readme_shows_the_rules_the_code_applies():

    readme = (ROOT / "README.md").read_text()
    table = [line for line in RULES_MARKDOWN.splitlines() if line.startswith("|")]
    missing = [line for line in table if line not in readme]
    assert not missing, "README's 'How it decides' table differs from RULES_MARKDOWN: " + repr(missing)


def test_the_garbage_collector_stays_on_while_many_sessions_are_diagnosed() -> None:
    from support.process_state import gc_states_while

    from chatkit.domain.sample import sample_sessions

    diagnoses, states = gc_states_while(lambda: diagnose_all(sample_sessions(3000)))
    assert len(diagnoses) == 3000
    assert states == {True}, "diagnosing switched the garbage collector off for the whole process"
