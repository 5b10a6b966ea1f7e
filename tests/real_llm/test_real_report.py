"""One real analysis end to end: today's prompt, the strict schema, the real openai client, a real model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from chatkit.domain.models import ChatKitSession, ReportBody
from chatkit.domain.rules import diagnose
from chatkit.llm.local import LocalServer
from chatkit.llm.prompts import Pseudonymizer, session_messages
from chatkit.llm.schema import report_response_format
from chatkit.reports.factcheck import fact_check

pytestmark = [pytest.mark.real_llm, pytest.mark.timeout(900)]

SEED = Path(__file__).parents[1] / "fixtures" / "seed_session.json"
QUOTE = (
    "raising workflow_alpha's limit from 30 to 36 would have avoided 9 of 10 rate-limit cancellations "
    "in this data set"
)


def test_a_real_report_is_schema_valid_and_fact_checked(local_llm: LocalServer) -> None:
    session = ChatKitSession.model_validate(json.loads(SEED.read_text()))
    diagnosis = diagnose(session)
    messages = session_messages(session, diagnosis, [QUOTE], Pseudonymizer(b"tier"), max_chars=500)
    client = openai.OpenAI(base_url=local_llm.base_url, api_key="local", timeout=600, max_retries=0)
    started = time.monotonic()
    response = client.chat.completions.create(
        model=local_llm.model,
        messages=messages,
        response_format=report_response_format(),
        temperature=0,
        max_tokens=700,
    )
    elapsed = time.monotonic() - started
    usage = response.usage
    print(f"real-model tier: {usage.completion_tokens} tokens in {elapsed:.1f} s" if usage else "")
    text = response.choices[0].message.content or ""
    # schema-constrained decoding: the raw text is the report, no fences, no repair
    body = ReportBody.model_validate_json(text)
    check = fact_check(body, session, diagnosis, [QUOTE])
    assert check.checked
    assert all(
        f.message.startswith(
            ("the report says", "the report's", "the report names", "removed", "the model said")
        )
        for f in check.findings
    )
    # after the fact check the advice carries the what-if number, whether the model quoted it or not
    assert any("36" in item for item in check.prevention)
    # the model's own advice comes first, less what the injection guard removed (a finding each)
    removed = {f.field for f in check.findings if f.kind == "injection"}
    kept = [p for i, p in enumerate(body.prevention) if f"prevention[{i}]" not in removed]
    assert check.prevention[: len(kept)] == kept
    assert check.body is not None and check.body.prevention == check.prevention
    # the rate-limited seed is decided by its numbers (35 requests over 30): the shown category is the rules'
    assert check.body.root_cause.category == diagnosis.category
