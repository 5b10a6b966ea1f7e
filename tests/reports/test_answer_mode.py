"""Schema-constrained answers with fallback, and the fact check on every LLM report (issue 10)."""

from __future__ import annotations

import json

from support import FIXTURES
from support import fakellm as fk

from chatkit.llm.provider import OpenAICompatibleProvider, endpoint_mode
from chatkit.reports.analyzer import ChatKitAnalyzer, render_report_markdown, render_summary_markdown
from chatkit.settings import Settings

SEED = json.loads((FIXTURES / "seed_session.json").read_text())


def analyzer(settings) -> ChatKitAnalyzer:
    return ChatKitAnalyzer(
        settings, llm=OpenAICompatibleProvider.from_settings(settings, backoff_base_s=0.02)
    )


def formats(fake) -> list[str | None]:
    return [(r.body.get("response_format") or {}).get("type") for r in fake.completions]


def test_an_endpoint_that_takes_json_schema_gets_it_strict(fake_llm, llm_settings):
    report = analyzer(llm_settings()).analyze(SEED)
    assert report.answer_mode == "json_schema" and report.structured
    (request,) = fake_llm.completions
    assert request.body["response_format"]["json_schema"]["strict"] is True
    assert "answer: json_schema" in render_report_markdown(report)


def test_an_endpoint_rejecting_json_schema_falls_back_to_json_object_and_remembers(fake_llm, llm_settings):
    fake_llm.reject_formats = {"json_schema"}
    first = analyzer(llm_settings()).analyze(SEED)
    assert first.answer_mode == "json_object" and first.structured
    assert formats(fake_llm) == ["json_schema", "json_object"]
    # a new analyzer on the same endpoint starts where the last one ended: no rejected request again
    second = analyzer(llm_settings()).analyze({**SEED, "id": "cksess_other"}, use_cache=False)
    assert second.answer_mode == "json_object"
    assert formats(fake_llm) == ["json_schema", "json_object", "json_object"]
    assert endpoint_mode(fake_llm.base_url, "fake/model-1") == "json_object"


def test_an_endpoint_rejecting_both_modes_is_asked_in_text_and_parsed(fake_llm, llm_settings):
    fake_llm.reject_formats = {"json_schema", "json_object"}
    fake_llm.push(fk.fenced_json(fk.report_dict("rate_limited")))
    report = analyzer(llm_settings()).analyze(SEED)
    assert report.answer_mode == "text" and report.structured
    assert formats(fake_llm) == ["json_schema", "json_object", None]


def test_offline_reports_say_offline_and_pass_the_fact_check_trivially():
    report = ChatKitAnalyzer(Settings(_env_file=None, llm_provider="offline")).analyze(SEED)
    assert report.answer_mode == "offline"
    assert not report.fact_check.checked and report.fact_check.count == 0
    assert "### Fact check" not in render_report_markdown(report)


def test_the_fact_check_runs_on_every_llm_report_and_shows_next_to_the_facts(fake_llm, llm_settings):
    wrong = fk.report_dict("rate_limited")
    wrong["root_cause"]["summary"] = "The session hit the 30-second limit."
    wrong["prevention"] = ["Raise the limit."]  # no what-if number
    fake_llm.push(fk.good_json(wrong))
    report = analyzer(llm_settings()).analyze(SEED)
    check = report.fact_check
    assert check.checked and check.count >= 1
    messages = [f.message for f in check.findings]
    assert "the report says a 30-second limit; the limit is 30 per minute" in messages
    # the what-if numbers reach the advice
    assert check.added_quotes and report.body is not None
    assert report.body.prevention == ["Raise the limit.", *check.added_quotes]
    markdown = render_report_markdown(report)
    facts_at = markdown.index("### Diagnosis (rule engine)")
    check_at = markdown.index("### Fact check: ")
    assert facts_at < check_at
    # rendered as text (the message quotes the report's words): Markdown's punctuation is escaped
    assert r"the report says a 30\-second limit; the limit is 30 per minute" in markdown[check_at:]
    dumped = report.model_dump(mode="json")
    assert dumped["fact_check"]["count"] == check.count and dumped["answer_mode"] == "json_schema"


def test_a_correct_report_has_a_clean_fact_check(fake_llm, llm_settings):
    report = analyzer(llm_settings()).analyze(SEED)
    assert report.fact_check.checked
    kinds = {f.kind for f in report.fact_check.findings}
    assert "unit" not in kinds and "category" not in kinds


def test_the_batch_summary_counts_reports_with_findings(fake_llm, llm_settings):
    wrong = fk.report_dict("rate_limited")
    wrong["root_cause"]["summary"] = "The session hit the 30-second limit."
    fake_llm.push(fk.good_json(wrong), fk.good_json(fk.report_dict("rate_limited")))
    a = analyzer(llm_settings())
    sessions = [{**SEED, "id": "cksess_a"}, {**SEED, "id": "cksess_b"}]
    reports = a.analyze_batch(sessions)
    with_findings = sum(1 for r in reports if any(f.kind == "unit" for f in r.fact_check.findings))
    assert with_findings == 1
    summary = a.summarize(sessions, reports)
    assert summary.reports_checked == 2
    assert summary.reports_with_findings == sum(1 for r in reports if r.fact_check.count)
    assert summary.reports_with_findings >= 1
    assert f"{summary.reports_with_findings} of 2 LLM reports" in render_summary_markdown(summary)
