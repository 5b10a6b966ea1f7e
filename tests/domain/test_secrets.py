"""chatkit.domain.secrets: one definition of a secret, one walker, one redactor — used by every layer."""

from __future__ import annotations

import pytest

import chatkit.store
from chatkit.domain import models, secrets
from chatkit.domain.secrets import (
    assert_secret_free,
    find_secret_key,
    is_secret_key,
    redact_text,
    strip_secrets,
)


@pytest.mark.parametrize(
    "key", ["client_secret", "API_KEY", "api-key", "password", "access_token", "Authorization"]
)
def test_credential_names_are_secret(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["prompt_tokens", "total_tokens", "tokens_used", "id", "reason", "max_tokens"]
)
def test_counters_and_fields_are_not(key: str) -> None:
    assert not is_secret_key(key)


def test_the_walker_copies_without_secrets_at_any_depth_and_leaves_the_input() -> None:
    record = {"id": "a", "client_secret": "ek_1", "nested": [{"token": "t", "keep": 1}, [{"password": 2}]]}
    assert strip_secrets(record) == {"id": "a", "nested": [{"keep": 1}, [{}]]}
    assert record["client_secret"] == "ek_1"  # a copy, not an edit
    deep: dict[str, object] = {}
    node = deep
    for _ in range(5000):  # iterative: no recursion limit
        node["a"] = node = {}
    node["api_key"] = "x"
    assert find_secret_key(strip_secrets(deep)) is None and find_secret_key(deep) == "api_key"


def test_assert_secret_free_names_the_key_and_accepts_token_counters() -> None:
    with pytest.raises(
        ValueError, match="refusing to store a report: key 'client_secret' looks like a secret"
    ):
        assert_secret_free({"rows": ({"client_secret": "ek"},)}, "a report")
    assert_secret_free({"usage": {"prompt_tokens": 3, "total_tokens": 5}}, "a report")


def test_redactor_masks_keys_and_bearer_headers_only() -> None:
    text = "failed with sk-abcdefghijklmnopqrstu and Authorization: Bearer abc.def for cksess_123"
    assert redact_text(text) == "failed with [redacted] and Authorization: [redacted] for cksess_123"
    assert redact_text("sk-short is fine") == "sk-short is fine"


def test_model_and_store_use_these_very_functions() -> None:
    assert models.strip_secrets is secrets.strip_secrets
    assert chatkit.store.redact_text is secrets.redact_text
    assert chatkit.store.assert_secret_free is secrets.assert_secret_free
