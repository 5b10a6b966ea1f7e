"""What the routes depend on, as named types: the app's context, settings, services, the caller.

`create_app` builds one `ApiContext` and keeps it on `app.state.api`; the dependencies below hand
its parts to the routes. The bearer-token check runs before a guarded route (see `app.py`); a route
learns who called from `Caller`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from slowapi.util import get_remote_address
from starlette.concurrency import run_in_threadpool

from chatkit.domain.access import AccessDenied, Action, Mode, Policy, require, token_identity
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.services import Services
from chatkit.settings import Settings
from chatkit.store import Store, acting_as

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


def api_policy(settings: Settings) -> Policy:
    """The token rules: ANALYTICS_API_TOKENS (name → role) plus ANALYTICS_API_TOKEN as `default`."""
    return Policy.build(Mode.PASSWORD, api_tokens=settings.api_tokens())


@dataclass
class ApiContext:
    """One per app: the services, the configured tokens, and where work runs.

    `token` is the legacy ANALYTICS_API_TOKEN; `policy.api_tokens` holds every token (its hash,
    name and role), and is what the check compares against.
    """

    settings: Settings
    services: Services
    token: str | None
    redact: Callable[[str], str]
    policy: Policy = field(default_factory=lambda: Policy.build(Mode.PASSWORD))
    # Validation is CPU work: worker threads, off the event loop. Under the GIL more threads add no
    # throughput, only contention with the loop: a few slots keep it responsive.
    cpu_slots: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(CPU_WORKERS))

    @property
    def guarded(self) -> bool:
        """Whether any token is configured (then every analytics route needs one)."""
        return bool(self.policy.api_tokens)

    @property
    def store(self) -> Store:
        return self.services.require_store()

    @property
    def analyzer(self) -> ChatKitAnalyzer:
        return self.services.analyzer

    async def cpu(self, call: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(call, *args, limiter=self.cpu_slots)

    async def analysis(self, coro: Coroutine[Any, Any, T], actor: str | None = None) -> T:
        """Await one of the analyzer's coroutines (they run on the process's LLM runtime, which takes
        this context along); the analyzer's own audit rows then name `actor`, the caller, not the API."""
        if actor is None:
            return await coro
        with acting_as(actor):
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


_FORBIDDEN_DETAIL = "This token's role may not do this"


async def check_token(request: Request, credentials: BearerCredentials, ctx: Context) -> None:
    """401 (audited) unless a configured token is presented; 403 (audited) when its role may not
    do what the route does. Then the caller is `token:<name>`, which every audit row carries.

    Added to the guarded routes only when a token is configured, so that without one the OpenAPI
    document declares no security scheme at all.
    """
    assert ctx.guarded
    presented = credentials.credentials if credentials else ""
    is_batch = request.url.path.endswith("/batch")
    audited = "api.batch" if is_batch else "api.analyze"
    caller_identity = token_identity(presented, ctx.policy)
    if caller_identity is None:
        await ctx.audit("anonymous", audited, (), outcome="denied", detail="missing or wrong bearer token")
        raise _UNAUTHORIZED
    try:
        require(caller_identity, Action.BATCH if is_batch else Action.ANALYZE, ctx.policy)
    except AccessDenied as denied:
        await ctx.audit(denied.who, audited, (), outcome="refused", detail=denied.reason)
        raise HTTPException(status_code=403, detail=_FORBIDDEN_DETAIL) from None
    request.state.actor = caller_identity.who


def caller(request: Request, ctx: Context) -> str:
    """Who called: the token's id once `check_token` passed, `local` when no token is configured."""
    actor = getattr(request.state, "actor", None)
    if actor is None and ctx.guarded:
        raise _UNAUTHORIZED  # a guarded route mounted without the check: refuse, never serve
    return actor or LOCAL_ACTOR


Caller = Annotated[str, Depends(caller)]


def bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def rate_limit_key(request: Request) -> str:
    """Rate-limit bucket: the token's name when a configured token is presented, else the client IP.

    Wrong tokens share their IP's bucket, so guessing tokens is rate limited too.
    """
    presented = bearer(request.headers.get("authorization", ""))
    found = token_identity(presented, get_context(request).policy) if presented else None
    if found is not None:
        return found.who
    return "ip:" + get_remote_address(request)
