"""Shared fixtures. Keep each fixture small and documented; add new ones below the existing ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fakellm import FakeLLM

FAKE_API_KEY = "sk-test-SECRET-123"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A loopback OpenAI-compatible server, scriptable with `fake_llm.push(...)` (see tests/fakellm.py)."""
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm_settings(fake_llm: FakeLLM) -> Callable[..., Any]:
    """Settings pointing at `fake_llm` with a distinctive fake key; keyword arguments override."""
    from chatkit.settings import Settings

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "llm_provider": "openai",
            "llm_api_key": FAKE_API_KEY,
            "llm_base_url": fake_llm.base_url,
            "llm_model": "fake/model-1",
            "llm_timeout_s": 2.0,
            "llm_max_retries": 2,
            "llm_concurrency": 4,
            "llm_requests_per_minute": 1000,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make
