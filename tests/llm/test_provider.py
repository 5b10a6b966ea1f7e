"""OpenAICompatibleProvider against the loopback fake server, through the real `openai` client."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from support import FAKE_API_KEY
from support import fakellm as fk

from chatkit.llm.provider import (
    LLMAuthError,
    LLMError,
    LLMRateLimitError,
    LLMTimeoutError,
    OpenAICompatibleProvider,
    is_openrouter,
    parse_retry_after,
)

MESSAGES = [{"role": "user", "content": "hello"}]
JSON = {"type": "json_object"}


def provider(fake: fk.FakeLLM, **overrides) -> OpenAICompatibleProvider:
    options = {
        "name": "openai",
        "model": "fake/model-1",
        "base_url": fake.base_url,
        "api_key": FAKE_API_KEY,
        "timeout_s": 2.0,
        "max_retries": 2,
        "requests_per_minute": 1000,
        "backoff_base_s": 0.05,
    }
    return OpenAICompatibleProvider(**{**options, **overrides})


def complete(p: OpenAICompatibleProvider, **kwargs):
    async def run():
        try:
            return await p.complete(MESSAGES, **kwargs)
        finally:
            await p.aclose()

    return asyncio.run(run())


def test_good_answer_returns_text_usage_and_sends_json_mode(fake_llm):
    fake_llm.push(fk.good_json())
    result = complete(provider(fake_llm), response_format=JSON)
    assert '"root_cause"' in result.text
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (
        100,
        50,
        150,
    )
    assert result.attempts == 1
    [request] = fake_llm.completions
    assert request.headers["authorization"] == f"Bearer {FAKE_API_KEY}"
    assert request.body["response_format"] == JSON
    assert request.body["model"] == "fake/model-1"
    assert request.body["messages"] == MESSAGES
    # Not OpenRouter: no attribution headers
    assert "http-referer" not in request.headers and "x-title" not in request.headers


def test_401_raises_auth_error_without_retrying(fake_llm):
    fake_llm.push(fk.unauthorized())
    with pytest.raises(LLMAuthError) as info:
        complete(provider(fake_llm, max_retries=3))
    assert len(fake_llm.completions) == 1
    assert FAKE_API_KEY not in str(info.value)


def test_403_is_an_auth_error_too(fake_llm):
    fake_llm.push(fk.error(403, "no access to this model"))
    with pytest.raises(LLMAuthError):
        complete(provider(fake_llm))
    assert len(fake_llm.completions) == 1


def test_429_with_retry_after_waits_at_least_that_long_then_succeeds(fake_llm):
    fake_llm.push(fk.rate_limited(retry_after="1"), fk.good_json())
    started = time.monotonic()
    result = complete(provider(fake_llm))
    assert result.attempts == 2
    first, second = fake_llm.completions
    assert second.at - first.at >= 1.0
    assert time.monotonic() - started < 5


def test_429_every_time_raises_rate_limit_error_after_the_retries(fake_llm):
    fake_llm.push(*[fk.rate_limited(retry_after="0")] * 3)
    with pytest.raises(LLMRateLimitError):
        complete(provider(fake_llm, max_retries=2))
    assert len(fake_llm.completions) == 3


def test_retry_after_far_in_the_future_gives_up_at_once(fake_llm):
    fake_llm.push(fk.rate_limited(retry_after="3600"))
    with pytest.raises(LLMRateLimitError, match="3600"):
        complete(provider(fake_llm, max_retries=3))
    assert len(fake_llm.completions) == 1


def test_500_then_success(fake_llm):
    fake_llm.push(fk.server_error(), fk.good_json())
    result = complete(provider(fake_llm))
    assert result.attempts == 2
    assert len(fake_llm.completions) == 2


def test_hang_past_the_timeout_is_retried_then_raises_timeout(fake_llm):
    fake_llm.push(fk.hang(5), fk.hang(5))
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError):
        complete(provider(fake_llm, timeout_s=0.5, max_retries=1))
    assert len(fake_llm.completions) == 2
    assert time.monotonic() - started < 4


def test_hang_once_then_answer(fake_llm):
    fake_llm.push(fk.hang(5), fk.good_json())
    result = complete(provider(fake_llm, timeout_s=0.5, max_retries=1))
    assert result.attempts == 2


def test_malformed_response_is_retried_then_reported(fake_llm):
    fake_llm.push(fk.malformed(), fk.good_json())
    assert complete(provider(fake_llm)).attempts == 2
    fake_llm.push(fk.malformed(), fk.malformed())
    with pytest.raises(LLMError, match="malformed"):
        complete(provider(fake_llm, max_retries=1))


def test_other_4xx_is_not_retried(fake_llm):
    fake_llm.push(fk.error(404, "model not found"))
    with pytest.raises(LLMError, match="404"):
        complete(provider(fake_llm))
    assert len(fake_llm.completions) == 1


def test_endpoint_rejecting_json_mode_is_asked_again_without_it(fake_llm):
    fake_llm.push(fk.error(400, "response_format is not supported by this model"), fk.good_json())
    p = provider(fake_llm, max_retries=0)
    assert complete(p, response_format=JSON).text
    first, second = fake_llm.completions
    assert "response_format" in first.body and "response_format" not in second.body


def test_requests_per_minute_cap_holds_back_the_third_request(fake_llm):
    p = provider(fake_llm, requests_per_minute=2)

    async def run():
        try:
            await p.complete(MESSAGES)
            await p.complete(MESSAGES)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(p.complete(MESSAGES), 0.5)
        finally:
            await p.aclose()

    asyncio.run(run())
    assert len(fake_llm.completions) == 2


def test_openrouter_gets_attribution_headers_others_do_not():
    assert is_openrouter("https://openrouter.ai/api/v1")
    assert not is_openrouter("https://api.openai.com/v1")
    assert not is_openrouter("https://openrouter.ai.evil.example/v1")
    routed = OpenAICompatibleProvider(
        name="openrouter", model="m", base_url="https://openrouter.ai/api/v1", api_key="k"
    )
    assert set(routed._headers) == {"HTTP-Referer", "X-Title"}
    direct = OpenAICompatibleProvider(
        name="openai", model="m", base_url="https://api.openai.com/v1", api_key="k"
    )
    assert direct._headers == {}


def check(p: OpenAICompatibleProvider) -> tuple[bool, str]:
    """The provider's connection check, then its client closed."""

    async def run() -> tuple[bool, str]:
        try:
            return await p.check()
        finally:
            await p.aclose()

    return asyncio.run(run())


def test_check_reports_reachability_without_the_key(fake_llm):
    p = provider(fake_llm)

    ok, message = check(p)
    assert ok and fake_llm.base_url in message
    assert FAKE_API_KEY not in message
    assert FAKE_API_KEY not in repr(p)


def test_check_reports_an_unreachable_endpoint():
    p = OpenAICompatibleProvider(
        name="openai", model="m", base_url="http://127.0.0.1:9/v1", api_key=FAKE_API_KEY, timeout_s=1
    )

    ok, message = check(p)
    assert not ok and "cannot reach" in message and FAKE_API_KEY not in message


def test_parse_retry_after():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == pytest.approx(10)


def test_key_never_logged_even_at_debug(fake_llm, caplog):
    caplog.set_level(logging.DEBUG)
    fake_llm.push(fk.server_error(), fk.rate_limited("0"), fk.good_json(), fk.unauthorized())
    p = provider(fake_llm)
    complete(p)
    with pytest.raises(LLMAuthError):
        complete(p)
    assert caplog.records, "expected debug logging from the client stack"
    for record in caplog.records:
        assert FAKE_API_KEY not in record.getMessage()
        assert FAKE_API_KEY not in repr(record.__dict__)
