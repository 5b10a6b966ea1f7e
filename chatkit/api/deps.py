"""What the routes depend on, as named types: the app's context, settings, services, the caller.

`create_app` builds one `ApiContext` and keeps it on `app.state.api`; the dependencies below hand
its parts to the routes. The bearer-token check runs before a guarded route (see `app.py`); a route
learns who called from `Caller`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from slowapi.util import get_remote_address
from starlette.concurrency import run_in_threadpool

from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.services import Services
from chatkit.settings import Settings
from chatkit.store import Store

T = TypeVar("T")
LOCAL_ACTOR = "local"
CPU_WORKERS = 2  # threads for request validation


def configured_token(settings: Settings) -> str | None:
    token = settings.analytics_api_token
    value = token.get_secret_value().strip() if token else ""
    return value or None


def token_id(token: str) -> str:
    """Who called, for the audit log and the rate limit: a short hash, never the token."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def redactor(settings: Settings) -> Callable[[str], str]:
    """Replaces the LLM key and the API token wherever they appear in a text."""
    secrets = [
        s
        for s in (
            settings.llm_api_key.get_secret_value() if settings.llm_api_key else "",
            configured_token(settings) or "",
        )
        if s.strip()
    ]

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "[redacted]")
        return text

    return redact


@dataclass
class ApiContext:
    """One per app: the services, the configured token, and where work runs."""

    settings: Settings
    services: Services
    token: str | None
    redact: Callable[[str], str]
    # Validation is CPU work: worker threads, off the event loop. Under the GIL more threads add no
    # throughput, only contention with the loop: a few slots keep it responsive.
    cpu_slots: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(CPU_WORKERS))

    @property
    def store(self) -> Store:
        return self.services.require_store()

    @property
    def analyzer(self) -> ChatKitAnalyzer:
        return self.services.analyzer

    async def cpu(self, call: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(call, *args, limiter=self.cpu_slots)

    async def analysis(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await one of the analyzer's coroutines: they run on the process's LLM runtime, not this loop."""
        return await coro

    async def audit(self, actor: str, action: str, session_ids: Sequence[str], **fields: Any) -> None:
        await run_in_threadpool(
            self.store.audit,
            actor,
            action,
            session_ids=list(session_ids),
            provider=self.analyzer.provider_name,
            model=self.analyzer.model,
            **fields,
        )


def get_context(request: Request) -> ApiContext:
    return request.app.state.api


def get_settings(request: Request) -> Settings:
    return get_context(request).settings


def get_services(request: Request) -> Services:
    return get_context(request).services


Context = Annotated[ApiContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]

# `auto_error=False`: the check is ours, so that an unset token means "no token needed".
BearerCredentials = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(
        HTTPBearer(
            auto_error=False,
            description="`ANALYTICS_API_TOKEN`; required when the server has one configured.",
        )
    ),
]

_UNAUTHORIZED = HTTPException(
    status_code=401, detail="Missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
)


async def check_token(request: Request, credentials: BearerCredentials, ctx: Context) -> None:
    """401 (audited) unless the configured token is presented; then the caller is the token's id.

    Added to the guarded routes only when a token is configured, so that without one the OpenAPI
    document declares no security scheme at all.
    """
    assert ctx.token is not None
    presented = credentials.credentials if credentials else ""
    if hmac.compare_digest(presented.encode(), ctx.token.encode()):
        request.state.actor = token_id(ctx.token)
        return
    action = "api.batch" if request.url.path.endswith("/batch") else "api.analyze"
    await ctx.audit("anonymous", action, (), outcome="denied", detail="missing or wrong bearer token")
    raise _UNAUTHORIZED


def caller(request: Request, ctx: Context) -> str:
    """Who called: the token's id once `check_token` passed, `local` when no token is configured."""
    actor = getattr(request.state, "actor", None)
    if actor is None and ctx.token is not None:
        raise _UNAUTHORIZED  # a guarded route mounted without the check: refuse, never serve
    return actor or LOCAL_ACTOR


Caller = Annotated[str, Depends(caller)]


def bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def rate_limit_key(request: Request) -> str:
    """Rate-limit bucket: the token's id when the right token is presented, else the client IP.

    Wrong tokens share their IP's bucket, so guessing tokens is rate limited too.
    """
    expected = get_context(request).token
    presented = bearer(request.headers.get("authorization", ""))
    if expected and presented and hmac.compare_digest(presented.encode(), expected.encode()):
        return token_id(expected)
    return "ip:" + get_remote_address(request)
