"""The FastAPI app: built from `Settings` by `create_app`, served by `main` (`chatkit api`, `make api`).

Layers, outermost first: CORS (so every answer, errors included, carries its headers) → a
catch-all that turns any unexpected exception into a safe 500 → the per-client rate limit
(slowapi; before anything reads the body) → the body-size limit → FastAPI's routes.
"""

from __future__ import annotations

import hmac
import logging
import traceback
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatkit import services as wiring
from chatkit.api.deps import ApiContext, api_policy, check_token, configured_token, rate_limit_key, redactor
from chatkit.api.routes import analytics
from chatkit.api.schemas import FieldError, ValidationErrorResponse
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.settings import Settings, load_settings
from chatkit.store import Store

logger = logging.getLogger("chatkit.api")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def create_app(
    settings: Settings,
    store: Store | None = None,
    analyzer: ChatKitAnalyzer | None = None,
    *,
    bind_host: str | None = None,
) -> FastAPI:
    """The API over `store` and `analyzer` (built from `settings` by `chatkit.services` when not given).

    `bind_host` is the address served on: on a loopback one, requests must name a loopback host
    (a web page on a rebound DNS name would otherwise reach the token-less API from the browser)."""
    built = wiring.build(settings, actor="api", store=store, analyzer=analyzer)
    ctx = ApiContext(
        settings=settings,
        services=built,
        token=configured_token(settings),
        redact=redactor(settings),
        policy=api_policy(settings),
    )

    # Swagger UI's files are served from the package, not a CDN: /docs works on a closed network.
    app = FastAPIOffline(
        title="ChatKit Session Analytics API",
        summary="Why ChatKit sessions were cancelled or expired, and what to do about it.",
        version="1.0.0",
        openapi_tags=[{"name": analytics.TAG, "description": "Session analysis, batch analysis, health."}],
    )
    app.state.api = ctx
    app.state.settings = settings
    app.state.store = ctx.store
    app.state.analyzer = ctx.analyzer

    # Without a token there is no security scheme at all, so the OpenAPI document tells the truth.
    guard = [Depends(check_token)] if ctx.guarded else []
    analytics.include(app, guard=guard)

    limiter = Limiter(
        key_func=rate_limit_key,
        application_limits=[settings.api_rate_limit],
        headers_enabled=True,
        strategy="moving-window",
    )
    app.state.limiter = limiter  # slowapi's middleware finds it here
    limiter.exempt(analytics.health)
    for route in app.routes:  # the docs are not analytics: not counted against a client's budget
        if getattr(route, "path", "") in {
            app.openapi_url,
            app.docs_url,
            app.redoc_url,
            "/docs/oauth2-redirect",
        }:
            limiter.exempt(route.endpoint)  # type: ignore[attr-defined]

    _add_error_handlers(app, limiter)
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(_BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(SlowAPIASGIMiddleware)
    if ctx.token is not None:  # the schema names every route and field: only for token holders
        # FastAPIOffline serves /docs and /redoc itself (app.docs_url is None there): name them.
        docs = {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", app.openapi_url} - {None}
        app.add_middleware(_DocsGuard, token=ctx.token, paths=frozenset(docs))  # type: ignore[arg-type]
    if bind_host in LOOPBACK_HOSTS:
        # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends
        # Host: evil.example. Starlette answers 400 for any Host but these (the port is ignored).
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])
    app.add_middleware(_CatchAll, redact=ctx.redact)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api_cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
    )
    return app


# ---------------------------------------------------------------- errors


def _add_error_handlers(app: FastAPI, limiter: Limiter) -> None:
    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [FieldError(field=_field(e), message=_msg(e)) for e in exc.errors()]
        first = errors[0] if errors else FieldError(field="body", message="invalid request")
        return JSONResponse(
            ValidationErrorResponse(
                detail=f"Invalid request: field '{first.field}': {first.message}", errors=errors
            ).model_dump(mode="json"),
            status_code=422,
        )

    @app.exception_handler(RateLimitExceeded)
    async def rate_limited(request: Request, exc: RateLimitExceeded) -> Response:
        response = JSONResponse(
            {"detail": f"Rate limit exceeded: {exc.detail}; retry later"}, status_code=429
        )
        # slowapi computes Retry-After (and X-RateLimit-*) from the limit that was hit.
        return limiter._inject_headers(response, request.state.view_rate_limit)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Reached only for failures outside `_CatchAll` (Starlette's last resort).
        return JSONResponse({"detail": _failure_detail(exc)}, status_code=500)

    app.add_exception_handler(Exception, unexpected)


def _failure_detail(exc: BaseException) -> str:
    """An unexpected error's text may hold anything (SQL, paths, keys): say only its kind."""
    return f"Analysis failed: internal error ({type(exc).__name__}); see the server log"


def _field(error: Any) -> str:
    """Where in the body: `sessions.3`; `body` for the body itself or JSON that does not parse."""
    if error.get("type") == "json_invalid":
        return "body"
    return ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"


def _msg(error: Any) -> str:
    """Pydantic's message, plus the parser's reason for broken JSON; never the input itself."""
    if error.get("type") == "json_invalid":
        return f"not valid JSON ({(error.get('ctx') or {}).get('error', 'unreadable')} at character {error['loc'][-1]})"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


# ---------------------------------------------------------------- ASGI layers


class _CatchAll:
    """Any exception that escapes the app becomes `500 Analysis failed: …`, inside CORS.

    Starlette's own last-resort handler sits outside every middleware, so its answers would lack
    CORS headers and the browser would hide them from the frontend.
    """

    def __init__(self, app: ASGIApp, redact: Callable[[str], str]) -> None:
        self.app = app
        self.redact = redact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the point of this layer
            logger.error(
                "unhandled error on %s %s: %s",
                scope.get("method"),
                scope.get("path"),
                self.redact("".join(traceback.format_exception(exc))),
            )
            if started:  # too late for an error response; the server closes the connection
                raise
            response = JSONResponse({"detail": _failure_detail(exc)}, status_code=500)
            await response(scope, receive, send)


class _DocsGuard:
    """/docs, /redoc and /openapi.json answer 401 without the bearer token (when one is set)."""

    def __init__(self, app: ASGIApp, token: str, paths: frozenset[str]) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            presented = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(presented, self.expected):
                response = JSONResponse(
                    {"detail": "Missing or invalid bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _BodyLimit:
    """Refuse bodies over `max_bytes`: by Content-Length up front, and by counting as they stream."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"Request body too large: the limit is {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = JSONResponse({"detail": self._detail()}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions met while reading the body, so this is a 413.
                    raise HTTPException(status_code=413, detail=self._detail())
            return message

        await self.app(scope, counting_receive, send)


# ---------------------------------------------------------------- serving


def main(host: str = "127.0.0.1", port: int = 8000, *, settings: Settings | None = None) -> None:
    """Serve the API with uvicorn. Without `ANALYTICS_API_TOKEN`, only on the loopback interface."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    settings = settings or load_settings()
    if not settings.api_tokens():
        if host not in LOOPBACK_HOSTS:
            raise SystemExit(
                f"refusing to listen on {host}: ANALYTICS_API_TOKEN is not set, so the API would be open "
                "to anyone who can reach it. Set ANALYTICS_API_TOKEN, or listen on 127.0.0.1."
            )
        logger.warning(
            "ANALYTICS_API_TOKEN is not set: the API requires no token and listens on %s only "
            "(loopback). Set ANALYTICS_API_TOKEN to serve other hosts.",
            host,
        )
    uvicorn.run(create_app(settings, bind_host=host), host=host, port=port)
