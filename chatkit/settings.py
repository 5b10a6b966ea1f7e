"""One `Settings` object, read once (env, `.env`, Streamlit secrets passed in) and passed down.

No other module reads environment variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
DEFAULT_MODEL = "mistralai/mistral-7b-instruct:free"
PROVIDERS = ("openrouter", "openai", "offline")


def provider_name(value: str) -> str:
    """A known provider, lower case. A typo must not pass: `offlne` with a key set would send the
    sessions to the LLM endpoint although the user asked for the offline analyzer."""
    name = value.strip().lower()
    if name not in PROVIDERS:
        raise ValueError(f"must be one of {', '.join(PROVIDERS)}")
    return name


class Settings(BaseSettings):
    """Every setting, its env name (upper case of the field) and its default."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # LLM
    llm_provider: str = Field(
        "openrouter", description="openrouter, openai (any OpenAI-compatible endpoint) or offline"
    )
    llm_api_key: SecretStr | None = Field(
        None, description="key for the endpoint; without it the offline analyzer is used"
    )
    llm_base_url: str = Field(OPENROUTER_BASE_URL, description="OpenAI-compatible API base URL")
    llm_model: str = Field(DEFAULT_MODEL, description="model name sent to the endpoint")
    llm_timeout_s: float = Field(60.0, gt=0, description="per-request timeout")
    llm_max_retries: int = Field(3, ge=0, description="retries on 429/5xx/timeouts (Retry-After honoured)")
    llm_concurrency: int = Field(8, ge=1, description="LLM requests in flight at once in a batch")
    llm_requests_per_minute: int = Field(20, ge=1, description="cap on LLM requests per minute")
    llm_max_reason_chars: int = Field(500, ge=10, description="free text sent to the LLM is cut to this")
    llm_pseudonymize_ids: bool = Field(
        True, description="replace customer/user ids with keyed hashes before the LLM"
    )

    # Local model (python -m chatkit.llm.local serve, make llm)
    local_llm_model: str = Field(
        "qwen2.5-coder-0.5b", description="local model to fetch and serve: qwen2.5-coder-0.5b or -1.5b"
    )
    local_llm_threads: int = Field(2, ge=1, description="CPU threads of the local model server")
    chatkit_model_dir: Path | None = Field(
        None, description="where local model files are cached (default ~/.cache/chatkit/models)"
    )

    # Dashboard
    dashboard_password: SecretStr | None = Field(
        None, description="when set, the dashboard asks for it before showing anything"
    )

    # Storage
    chatkit_data_dir: Path = Field(Path(".chatkit-data"), description="where the SQLite store lives")
    chatkit_database_url: str | None = Field(
        None, description="any SQLAlchemy URL, e.g. postgresql+psycopg://…"
    )
    chatkit_max_upload_mb: int = Field(200, ge=1, description="largest file the importer reads")

    # REST API
    analytics_api_token: SecretStr | None = Field(
        None, description="bearer token; unset = bind 127.0.0.1 only"
    )
    api_cors_origins: list[str] = Field(
        ["http://localhost:3000", "http://localhost:5173", "http://127.0.0.1:3000", "http://127.0.0.1:5173"],
        description="browser origins allowed to call the API",
    )
    api_rate_limit: str = Field("60/minute", description="per-client limit on analytics endpoints")
    api_max_body_bytes: int = Field(5_000_000, ge=1024, description="largest request body")
    api_max_batch_sessions: int = Field(1000, ge=1, description="most sessions in one batch request")

    @field_validator("llm_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        return provider_name(value)

    @property
    def effective_provider(self) -> str:
        """`offline` when asked for, or when no key is configured: a newcomer still gets results."""
        if self.llm_provider.lower() == "offline" or not self.has_api_key:
            return "offline"
        return self.llm_provider.lower()

    @property
    def has_api_key(self) -> bool:
        return bool(self.llm_api_key and self.llm_api_key.get_secret_value().strip())

    @property
    def database_url(self) -> str:
        if self.chatkit_database_url:
            return self.chatkit_database_url
        return f"sqlite:///{(self.chatkit_data_dir / 'chatkit.db').resolve()}"

    @property
    def max_upload_bytes(self) -> int:
        return self.chatkit_max_upload_mb * 1024 * 1024

    def public_view(self) -> dict[str, Any]:
        """What may be shown: everything but secrets (only whether a key is set)."""
        return {
            "provider": self.effective_provider,
            "configured_provider": self.llm_provider,
            "model": self.llm_model,
            "base_url": self.llm_base_url,
            "api_key_configured": self.has_api_key,
            "store": _redact_url(self.database_url),
            "concurrency": self.llm_concurrency,
            "requests_per_minute": self.llm_requests_per_minute,
            "pseudonymize_ids": self.llm_pseudonymize_ids,
        }


def _redact_url(url: str) -> str:
    """Database URLs may carry a password: keep only what tells where the store is."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as "unparsable", never raw
        return "(unparsable URL)"


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Env and `.env` first; `overrides` (e.g. Streamlit secrets) win over both."""
    return Settings(**{k.lower(): v for k, v in (overrides or {}).items()})
