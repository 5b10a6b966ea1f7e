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


def test_the_extended_secret_names_and_the_fields_the_app_uses() -> None:
    from chatkit.domain.secrets import is_secret_key

    for name in (
        "private_key", "privateKey", "access_key", "AWS_ACCESS_KEY_ID", "jwt", "id_jwt", "cookie",
        "Set-Cookie", "auth", "x_auth", "pwd", "db_pwd", "passphrase", "ephemeral_key", "token",
        "refresh_token", "client_secret", "Authorization",
    ):  # fmt: skip
        assert is_secret_key(name), name
    for name in (
        "max_requests_per_1_minute", "tokens", "prompt_tokens", "completion_tokens", "total_tokens",
        "max_tokens", "tokens_used", "author", "authored_by", "auth_required", "user", "workflow",
        "state_variables", "chatkit_configuration", "customer_id", "keyboard", "monkey",
    ):  # fmt: skip
        assert not is_secret_key(name), name


def test_key_like_values_are_masked_in_any_string_of_a_record() -> None:
    from chatkit.domain.secrets import REDACTED, strip_secrets

    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    record = {
        "reason": "failed: Authorization: Bearer abc.def.ghi",
        "state_variables": {"note": f"key sk-proj-{'a' * 24} and {jwt}", "list": [f"ek_{'b' * 20}"]},
        "user": "rk_live_" + "c" * 20,
    }
    clean = strip_secrets(record)
    text = repr(clean)
    assert "abc.def" not in text and "aaaa" not in text and jwt not in text and "bbbb" not in text
    assert "cccc" not in text
    assert clean["reason"] == f"failed: Authorization: {REDACTED}"
    assert strip_secrets({"reason": "sk-short"}) == {"reason": "sk-short"}


def test_a_key_quoted_in_a_session_reason_is_masked_at_import() -> None:
    import json

    from chatkit.ingest import import_bytes

    data = json.dumps({"id": "cksess_1", "status": "cancelled", "reason": "leaked sk-" + "x" * 30})
    result = import_bytes("s.json", data.encode())
    assert result.sessions[0].reason == "leaked [redacted]"
