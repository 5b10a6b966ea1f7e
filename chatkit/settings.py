"""One `Settings` object, read once (env, `.env`, Streamlit secrets passed in) and passed down.

No other module reads environment variables.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from chatkit.domain.access import ApiToken, Role, hash_password, is_password_hash

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
ENV_FILE_VARIABLE = "CHATKIT_ENV_FILE"
DEFAULT_MODEL = "mistralai/mistral-7b-instruct:free"
PROVIDERS = ("openrouter", "openai", "offline")


_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class ApiTokenSpec(BaseModel):
    """One entry of ANALYTICS_API_TOKENS. A plain `token` is hashed on load and not kept."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    token_sha256: SecretStr
    role: Literal["admin", "viewer"] = "viewer"

    @model_validator(mode="before")
    @classmethod
    def _hash_plain_token(cls, data: Any) -> Any:
        if isinstance(data, dict) and "token" in data:
            data = dict(data)
            plain = data.pop("token")
            if "token_sha256" in data:
                raise ValueError('give either "token" or "token_sha256", not both')
            if not isinstance(plain, str) or len(plain.strip()) < 16:
                raise ValueError('"token" must be a string of at least 16 characters')
            data["token_sha256"] = hashlib.sha256(plain.strip().encode("utf-8")).hexdigest()
        return data

    @field_validator("token_sha256")
    @classmethod
    def _is_sha256(cls, value: SecretStr) -> SecretStr:
        if not _SHA256_HEX.match(value.get_secret_value()):
            raise ValueError('"token_sha256" must be 64 hex digits (sha256sum of the token)')
        return SecretStr(value.get_secret_value().lower())


def _address_list(value: Any) -> Any:
    """A JSON list, or addresses separated by commas / whitespace (friendlier in an env file)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in re.split(r"[\s,;]+", text) if part]
    return value


# Plain password → its scrypt hash, once per process (settings are read on every dashboard run and
# scrypt is slow on purpose). Keyed by an HMAC under a per-process random key, not by the password:
# the plain text is kept nowhere, not even as a cache key.
_PROCESS_KEY = secrets.token_bytes(32)
_plain_hashes: dict[str, str] = {}
_plain_hashes_lock = threading.Lock()


def _hash_of_plain_password(plain: str) -> str:
    key = hmac.new(_PROCESS_KEY, plain.encode("utf-8"), hashlib.sha256).hexdigest()
    with _plain_hashes_lock:
        found = _plain_hashes.get(key)
        if found is None:
            if len(_plain_hashes) >= 4:  # bounded like the lru_cache it replaces
                _plain_hashes.clear()
            found = _plain_hashes[key] = hash_password(plain)
    return found


def provider_name(value: str) -> str:
    """A known provider, lower case. A typo must not pass: `offlne` with a key set would send the
    sessions to the LLM endpoint although the user asked for the offline analyzer."""
    name = value.strip().lower()
    if name not in PROVIDERS:
        raise ValueError(f"must be one of {', '.join(PROVIDERS)}")
    return name


class Settings(BaseSettings):
    """Every setting, its env name (upper case of the field) and its default."""

    # hide_input_in_errors: an error message must never echo a password, hash or token it was given.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # CHATKIT_ENV_FILE names another .env file, or none when empty (the test suite sets it empty, so
        # no test ever reads a developer's .env from the working directory).
        env_file = os.environ.get(ENV_FILE_VARIABLE)
        if env_file is None:
            return init_settings, env_settings, dotenv_settings, file_secret_settings
        if not env_file:
            return init_settings, env_settings, file_secret_settings
        return (
            init_settings,
            env_settings,
            DotEnvSettingsSource(settings_cls, env_file=env_file),
            file_secret_settings,
        )

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
    llm_requests_per_minute: int = Field(
        20, ge=1, description="cap on LLM requests per window, for the whole process (or store)"
    )
    llm_rate_window_s: float = Field(
        60.0, gt=0, description="the window LLM_REQUESTS_PER_MINUTE counts over (shorter in tests)"
    )
    llm_max_reason_chars: int = Field(500, ge=10, description="free text sent to the LLM is cut to this")
    llm_max_prompt_chars: int = Field(
        16_000, ge=4000, description="cap on one session's whole prompt; extra fields go as their shape"
    )
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
    render_link_allow_hosts: Annotated[list[str], NoDecode] = Field(
        [], description="hosts whose links in LLM reports stay clickable (comma-separated); others are inert"
    )
    dashboard_password: SecretStr | None = Field(
        None,
        description="the shared password; hashed when read and not kept (prefer DASHBOARD_PASSWORD_HASH)",
    )
    dashboard_password_hash: SecretStr | None = Field(
        None,
        description="the shared password as a scrypt hash (`chatkit hash-password`); wins over the plain one",
    )

    # Sign-in and roles (OIDC itself is configured in .streamlit/secrets.toml [auth])
    auth_allowed_emails: Annotated[list[str], NoDecode] = Field(
        [], description="addresses that may sign in (comma-separated or JSON list)"
    )
    auth_allowed_domains: Annotated[list[str], NoDecode] = Field(
        [], description="e-mail domains that may sign in, matched exactly"
    )
    auth_admin_emails: Annotated[list[str], NoDecode] = Field([], description="addresses that are admins")
    auth_admin_group_claim: str = Field("groups", description="the OIDC claim that lists a user's groups")
    auth_admin_group: str | None = Field(None, description="members of this group (in the claim) are admins")
    analytics_api_tokens: dict[str, ApiTokenSpec] | None = Field(
        None,
        description='REST API tokens: {name: {"token_sha256" | "token": ..., "role": "admin" | "viewer"}}',
    )
    retention_days: int = Field(30, ge=0, description="data sets older than this are purged; 0 keeps them")

    # Storage
    chatkit_data_dir: Path = Field(Path(".chatkit-data"), description="where the SQLite store lives")
    chatkit_database_url: str | None = Field(
        None, description="any SQLAlchemy URL, e.g. postgresql+psycopg://…"
    )
    chatkit_max_upload_mb: int = Field(400, ge=1, description="largest file the importer reads")
    chatkit_max_import_mb: int = Field(500, ge=1, description="largest total of the files of one import")
    chatkit_max_paste_kb: int = Field(1024, ge=1, description="longest text the paste box takes")
    chatkit_max_field_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="largest CSV cell the importer reads; a larger one is a row error",
    )

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

    @field_validator(
        "auth_allowed_emails",
        "auth_allowed_domains",
        "auth_admin_emails",
        "render_link_allow_hosts",
        mode="before",
    )
    @classmethod
    def _split_addresses(cls, value: Any) -> Any:
        return _address_list(value)

    @field_validator("auth_allowed_emails", "auth_admin_emails")
    @classmethod
    def _look_like_addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v.count("@") != 1 or v.startswith("@") or v.endswith("@")]
        if bad:
            raise ValueError(f"{len(bad)} entr{'y is' if len(bad) == 1 else 'ies are'} not an e-mail address")
        return [v.strip().lower() for v in value]

    @field_validator("auth_allowed_domains")
    @classmethod
    def _look_like_domains(cls, value: list[str]) -> list[str]:
        domains = [v.strip().lower().lstrip("@") for v in value]
        if any("@" in d or "." not in d or d.startswith(".") for d in domains):
            raise ValueError("a domain is written like example.com (no '@', no leading dot)")
        return domains

    @field_validator("render_link_allow_hosts")
    @classmethod
    def _bare_hosts(cls, value: list[str]) -> list[str]:
        hosts = [v.strip().lower() for v in value if v.strip()]
        if any(c in h for h in hosts for c in "/:@ "):
            raise ValueError("a host is written like docs.example.com (no scheme, port, path or '@')")
        return hosts

    @field_validator("dashboard_password_hash")
    @classmethod
    def _known_hash_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_password_hash(value.get_secret_value()):
            raise ValueError(
                "must be a hash made by `chatkit hash-password` ($scrypt$ln=…,r=…,p=…$salt$hash)"
            )
        return value

    @model_validator(mode="after")
    def _keep_no_plain_password(self) -> Settings:
        """DASHBOARD_PASSWORD is hashed at load and dropped: only its hash lives on (unless
        DASHBOARD_PASSWORD_HASH is set, which wins)."""
        plain = self.dashboard_password.get_secret_value() if self.dashboard_password else ""
        if plain and self.dashboard_password_hash is None:
            self.dashboard_password_hash = SecretStr(_hash_of_plain_password(plain))
        self.dashboard_password = None
        return self

    def password_hash(self) -> str | None:
        """The shared password's hash: DASHBOARD_PASSWORD_HASH, else DASHBOARD_PASSWORD hashed in
        memory (once per process: the dashboard reads its settings on every run, and scrypt is
        deliberately slow). None when neither is set."""
        if self.dashboard_password_hash is not None:
            return self.dashboard_password_hash.get_secret_value()
        return None

    def api_tokens(self) -> list[ApiToken]:
        """ANALYTICS_API_TOKENS, plus ANALYTICS_API_TOKEN as the admin token named `default` (today's
        one token could run analyses, so it keeps doing so)."""
        tokens = [
            ApiToken(name, spec.token_sha256.get_secret_value(), Role(spec.role))
            for name, spec in (self.analytics_api_tokens or {}).items()
        ]
        legacy = self.analytics_api_token
        if (
            legacy is not None
            and legacy.get_secret_value().strip()
            and "default" not in (self.analytics_api_tokens or {})
        ):
            digest = hashlib.sha256(legacy.get_secret_value().strip().encode("utf-8")).hexdigest()
            tokens.append(ApiToken("default", digest, Role.ADMIN))
        return tokens

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

    @property
    def max_import_bytes(self) -> int:
        return self.chatkit_max_import_mb * 1024 * 1024

    def public_view(self) -> dict[str, Any]:
        """What may be shown: everything but secrets (only whether a key is set)."""
        return {
            "provider": self.effective_provider,
            "configured_provider": self.llm_provider,
            "model": self.llm_model,
            "base_url": redact_base_url(self.llm_base_url),
            "api_key_configured": self.has_api_key,
            "store": _redact_url(self.database_url),
            "concurrency": self.llm_concurrency,
            "requests_per_minute": self.llm_requests_per_minute,
            "pseudonymize_ids": self.llm_pseudonymize_ids,
        }


def redact_base_url(url: str) -> str:
    """LLM_BASE_URL as it may be shown: a user:password@ or a ?key=… in it is a credential."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = ("[redacted]@" if "@" in parts.netloc else "") + host + port
    query = "[redacted]" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


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
