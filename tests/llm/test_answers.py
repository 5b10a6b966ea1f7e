"""parse_report: forgiving, and linear on whatever a model (or the data steering it) writes."""

from __future__ import annotations

from support.linear import assert_linear

from chatkit.llm.answers import MAX_PARSE_CHARS, parse_report

_REPORT = (
    '{"root_cause": {"category": "rate_limited", "summary": "s", "evidence": ["x"]}, "impact": "i",'
    ' "recovery_steps": ["r"], "prevention": ["p"], "severity": "info", "confidence": 0.5}'
)


def test_a_fenced_report_is_read_and_a_four_backtick_fence_too() -> None:
    for answer in (f"Here:\n```json\n{_REPORT}\n```\nbye", f"````  json \n{_REPORT}\n````"):
        report, problem = parse_report(answer)
        assert report is not None, problem
        assert report.root_cause.summary == "s"


def test_a_report_in_prose_after_an_open_fence_is_still_found() -> None:
    report, problem = parse_report("``` oops " + _REPORT)
    assert report is not None, problem


def test_answers_are_capped_before_parsing() -> None:
    report, problem = parse_report("x" * MAX_PARSE_CHARS + _REPORT)
    assert report is None and problem == "no JSON object found"


def test_parse_report_is_linear_on_adversarial_answers() -> None:
    # Sizes past the cap measure the cap; these stay under it up to 100 KB, then are cut.
    for make in (
        lambda n: "{" * n,  # balanced-object scan that never closes
        lambda n: '{"a": "' + '\\"' * (n // 2),  # a string that never ends
        lambda n: "```json\n" * (n // 8),  # fences with empty bodies
        lambda n: "x```" + " \t" * (n // 2) + "x",  # the old regex's cubic case, mid-text
        lambda n: "{}" * (n // 2),
    ):
        assert_linear(parse_report, make, first_budget=2.0)
