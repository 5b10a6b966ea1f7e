"""chatkit.settings: the README's configuration table is the truth, and a mistyped provider is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from support import ROOT

from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.settings import Settings, load_settings

README = (ROOT / "README.md").read_text()


def readme_table() -> dict[str, str]:
    """`{"LLM_PROVIDER": "`openrouter`", ...}` from the README's configuration table."""
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| .+ \|$", section, re.M)
    return dict(rows)


def test_the_readme_table_lists_every_setting_and_nothing_else() -> None:
    assert sorted(readme_table()) == sorted(name.upper() for name in Settings.model_fields)


def test_the_readme_defaults_are_the_real_defaults() -> None:
    for name, shown in readme_table().items():
        default = Settings.model_fields[name.lower()].default
        if default is None:
            assert shown == "*(unset)*", name
        elif isinstance(default, list):
            assert all(re.search(r":\d+", origin).group() in shown for origin in default), name
        else:
            value = shown.strip("`")
            if isinstance(default, bool):
                assert value == str(default).lower(), name
            elif isinstance(default, (int, float)):
                assert float(value) == default, name
            elif isinstance(default, Path):
                assert Path(value) == default, name
            else:
                assert value == default, name


def test_every_setting_is_read_from_the_environment_case_insensitively(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = {
        "LLM_PROVIDER": "openai",
        "llm_api_key": "sk-from-env",
        "LLM_BASE_URL": "http://127.0.0.1:1/v1",
        "LLM_MODEL": "m-1",
        "LLM_TIMEOUT_S": "7.5",
        "LLM_MAX_RETRIES": "1",
        "LLM_CONCURRENCY": "2",
        "LLM_REQUESTS_PER_MINUTE": "5",
        "LLM_RATE_WINDOW_S": "2.5",
        "LLM_MAX_REASON_CHARS": "50",
        "LLM_MAX_PROMPT_CHARS": "9000",
        "LLM_PSEUDONYMIZE_IDS": "false",
        "LOCAL_LLM_MODEL": "qwen2.5-coder-1.5b",
        "LOCAL_LLM_THREADS": "1",
        "CHATKIT_MODEL_DIR": str(tmp_path / "models"),
        "DASHBOARD_PASSWORD": "pa55",
        "CHATKIT_DATA_DIR": str(tmp_path),
        "CHATKIT_DATABASE_URL": "sqlite:///x.db",
        "CHATKIT_MAX_UPLOAD_MB": "3",
        "CHATKIT_MAX_IMPORT_MB": "5",
        "CHATKIT_MAX_PASTE_KB": "64",
        "CHATKIT_MAX_FIELD_BYTES": "2048",
        "ANALYTICS_API_TOKEN": "t0ken",
        "API_CORS_ORIGINS": '["https://a.example"]',
        "API_RATE_LIMIT": "5/minute",
        "API_MAX_BODY_BYTES": "4096",
        "API_MAX_BATCH_SESSIONS": "3",
        "DASHBOARD_PASSWORD_HASH": "$scrypt$ln=4,r=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + "A" * 43,
        "AUTH_ALLOWED_EMAILS": "Carol@Partner.org, dave@partner.org",
        "AUTH_ALLOWED_DOMAINS": '["example.com"]',
        "AUTH_ADMIN_EMAILS": "admin@example.com",
        "AUTH_ADMIN_GROUP_CLAIM": "roles",
        "AUTH_ADMIN_GROUP": "chatkit-admins",
        "ANALYTICS_API_TOKENS": '{"ci": {"token": "ci-token-0123456789", "role": "viewer"}}',
        "RETENTION_DAYS": "7",
        "RENDER_LINK_ALLOW_HOSTS": "Docs.Example.com, wiki.example.com",
    }
    assert sorted(name.upper() for name in values) == sorted(readme_table())
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.render_link_allow_hosts == ["docs.example.com", "wiki.example.com"]
    assert (s.effective_provider, s.llm_api_key.get_secret_value(), s.llm_model) == (
        "openai",
        "sk-from-env",
        "m-1",
    )
    assert (s.llm_timeout_s, s.llm_max_retries, s.llm_concurrency, s.llm_requests_per_minute) == (
        7.5,
        1,
        2,
        5,
    )
    assert s.llm_rate_window_s == 2.5
    assert (s.llm_max_reason_chars, s.llm_pseudonymize_ids, s.max_upload_bytes) == (
        50,
        False,
        3 * 1024 * 1024,
    )
    assert (s.chatkit_data_dir, s.database_url) == (tmp_path, "sqlite:///x.db")
    assert s.chatkit_max_field_bytes == 2048
    assert s.api_cors_origins == ["https://a.example"] and s.api_rate_limit == "5/minute"
    assert (s.api_max_body_bytes, s.api_max_batch_sessions) == (4096, 3)
    assert (s.local_llm_model, s.local_llm_threads, s.chatkit_model_dir) == (
        "qwen2.5-coder-1.5b",
        1,
        tmp_path / "models",
    )
    assert s.analytics_api_token.get_secret_value() == "t0ken"
    assert s.dashboard_password is None and "pa55" not in repr(s) + s.model_dump_json()  # hashed, dropped
    assert "sk-from-env" not in repr(s) and "sk-from-env" not in str(s.public_view())
    assert s.password_hash() == values["DASHBOARD_PASSWORD_HASH"]  # the hash wins over the plain one
    assert s.auth_allowed_emails == ["carol@partner.org", "dave@partner.org"]
    assert (s.auth_allowed_domains, s.auth_admin_emails) == (["example.com"], ["admin@example.com"])
    assert (s.auth_admin_group_claim, s.auth_admin_group, s.retention_days) == ("roles", "chatkit-admins", 7)
    assert [(t.name, t.role.value) for t in s.api_tokens()] == [("ci", "viewer"), ("default", "admin")]
    assert "ci-token-0123456789" not in repr(s) + s.model_dump_json()  # hashed at load, not kept


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("dashboard_password_hash", "hunter2-not-a-hash", "chatkit hash-password"),
        (
            "auth_allowed_emails",
            "alice@example.com, hunter2-not-an-address",
            "1 entry is not an e-mail address",
        ),
        ("auth_allowed_domains", "@example.com, .hunter2", "a domain is written like example.com"),
        ("analytics_api_tokens", {"ci": {"token": "hunter2"}}, "at least 16 characters"),
        ("analytics_api_tokens", {"ci": {"token_sha256": "hunter2"}}, "64 hex digits"),
        (
            "analytics_api_tokens",
            {"ci": {"token": "hunter2-0123456789", "role": "root"}},
            "'admin' or 'viewer'",
        ),
    ],
)
def test_a_bad_auth_setting_is_refused_without_echoing_it(name: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as refused:
        Settings(_env_file=None, **{name: value})
    assert "hunter2" not in str(refused.value)


def test_without_a_key_the_offline_analyzer_answers() -> None:
    assert Settings(_env_file=None, llm_provider="openrouter").effective_provider == "offline"
    assert Settings(_env_file=None, llm_provider="openai", llm_api_key="  ").effective_provider == "offline"


@pytest.mark.parametrize("name", ["offlne", "anthropic", ""])
def test_a_mistyped_provider_is_refused_not_sent_to_the_endpoint(name: str) -> None:
    with pytest.raises(ValidationError, match="must be one of openrouter, openai, offline"):
        Settings(_env_file=None, llm_provider=name, llm_api_key="sk-x")
    with pytest.raises(ValueError, match="must be one of"):
        ChatKitAnalyzer(Settings(_env_file=None, llm_provider="offline"), provider=name or " ")


def test_provider_names_are_case_insensitive() -> None:
    assert Settings(_env_file=None, llm_provider=" OpenAI ").llm_provider == "openai"
    analyzer = ChatKitAnalyzer(Settings(_env_file=None, llm_api_key="sk-x"), provider="OFFLINE")
    assert analyzer.provider_name == "offline"


def test_a_plain_dashboard_password_is_hashed_at_load_and_kept_nowhere_in_clear() -> None:
    from chatkit import settings as settings_module
    from chatkit.domain.access import verify_password

    s = Settings(_env_file=None, dashboard_password="plain-0123-unique-pw")
    assert s.dashboard_password is None
    assert verify_password("plain-0123-unique-pw", s.password_hash() or "")
    # Not as a field, not as the once-per-process cache's key.
    assert all("plain-0123-unique-pw" not in key for key in settings_module._plain_hashes)
    assert "plain-0123-unique-pw" not in s.model_dump_json() + repr(s.model_dump())


def test_no_test_reads_a_env_file_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("LLM_MODEL=from-a-developers-env\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    assert Settings().llm_model != "from-a-developers-env"  # the suite sets CHATKIT_ENV_FILE empty
    monkeypatch.delenv("CHATKIT_ENV_FILE")
    assert Settings().llm_model == "from-a-developers-env"  # what a user running the app gets
    (tmp_path / "other.env").write_text("LLM_MODEL=from-another-file\n")
    monkeypatch.setenv("CHATKIT_ENV_FILE", str(tmp_path / "other.env"))
    assert Settings().llm_model == "from-another-file"


def test_the_llm_base_url_is_shown_without_userinfo_or_query() -> None:
    from chatkit.settings import Settings

    settings = Settings(
        _env_file=None, llm_base_url="https://bob:hunter2@llm.example:8443/v1?api-key=s3cret#x"
    )
    shown = settings.public_view()["base_url"]
    assert shown == "https://[redacted]@llm.example:8443/v1?[redacted]"
    plain = Settings(_env_file=None, llm_base_url="http://127.0.0.1:8080/v1").public_view()["base_url"]
    assert plain == "http://127.0.0.1:8080/v1"
