"""REST API: the seed's three endpoints over the same engine, for frontends and tools.

`create_app` builds the FastAPI app from a `Settings`; `main` serves it with uvicorn
(`python -m chatkit api`, `make api`). Sessions are validated by `chatkit.ingest.import_records`
only, so the API accepts and rejects exactly what the dashboard and the CLI do.

Layers, outermost first: CORS (so every answer, errors included, carries its headers) → a
catch-all that turns any unexpected exception into a safe 500 → the per-client rate limit
(slowapi; before anything reads the body) → the body-size limit → FastAPI's routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import anyio
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, PlainValidator
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from slowapi.util import get_remote_address
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatkit.domain.models import ChatKitSession, Diagnosis, ImportIssue, SessionReport, SummaryReport
from chatkit.domain.sample import SEED_SESSION
from chatkit.ingest import import_records
from chatkit.reports.analyzer import (
    ChatKitAnalyzer,
    LLMAuthError,
    render_report_markdown,
    render_summary_markdown,
)
from chatkit.settings import Settings, load_settings
from chatkit.store import Store

logger = logging.getLogger(__name__)

SERVICE = "chatkit_analyzer"
TAG = "Analytics"
PREFIX = "/analytics/chatkit"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_ACTOR = "local"
CPU_WORKERS = 2  # threads for request validation
T = TypeVar("T")
# Failures are reported in one line; longer texts are cut (they are for people, not parsers).
_MAX_MESSAGE_CHARS = 300

# ---------------------------------------------------------------- request and response shapes


def _as_is(value: Any) -> Any:
    return value


# Documented as a ChatKitSession, received as any JSON value: `import_records` alone decides what is
# valid (it also accepts CSV-style strings and epoch numbers, merges lifecycle records, and names what
# is wrong with anything else), so a bad item in a batch is listed, not fatal.
RawSession = Annotated[Any, PlainValidator(_as_is, json_schema_input_type=ChatKitSession)]


class AnalyzeRequest(BaseModel):
    session: RawSession = Field(
        description="One ChatKit session: the API's shape, the seed's enriched shape, or a mixture.",
        examples=[SEED_SESSION],
    )


class BatchRequest(BaseModel):
    sessions: list[RawSession] = Field(
        description="ChatKit sessions; records of one id (create, then cancel) merge into one session.",
        examples=[[SEED_SESSION]],
    )


class SessionMetadata(BaseModel):
    status: str | None
    max_requests: int | None
    current_requests: int | None


class AnalyzeResponse(BaseModel):
    session_id: str
    analysis: str = Field(description="The report as Markdown (what the seed's frontend shows).")
    analyzed_at: datetime
    metadata: SessionMetadata
    report: SessionReport = Field(description="The structured report.")
    diagnosis: Diagnosis = Field(description="The deterministic diagnosis the report is built on.")


class SessionFailure(BaseModel):
    session_id: str
    error: str


class BatchResponse(BaseModel):
    total_sessions: int = Field(description="Session records received.")
    analyses: dict[str, str] = Field(description="Markdown report per session id that was analyzed.")
    summary: str = Field(description="Summary of the batch as Markdown.")
    analyzed_at: datetime
    failures: list[SessionFailure] = Field(description="Sessions whose analysis failed; the rest went on.")
    import_errors: list[ImportIssue] = Field(description="Records rejected by validation; not analyzed.")
    summary_report: SummaryReport


class HealthResponse(BaseModel):
    status: Literal["healthy"]
    service: str
    timestamp: datetime
    provider: str = Field(description="LLM provider in use (`offline` when no key is configured).")
    model: str
    auth_required: bool = Field(description="Whether the analytics endpoints need a bearer token.")


class ErrorResponse(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str | None = None
    message: str
    session_id: str | None = None
    location: str = ""


class ValidationErrorResponse(BaseModel):
    detail: str = Field(description="The first problem, naming the field, in one line.")
    errors: list[FieldError]


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body could not be read at all (e.g. not UTF-8)."},
    401: {
        "model": ErrorResponse,
        "description": "Missing or wrong bearer token, or the LLM provider rejected its key "
        "(`Invalid API key`).",
    },
    413: {"model": ErrorResponse, "description": "Request body or batch too large."},
    422: {"model": ValidationErrorResponse, "description": "Invalid session(s); `detail` names the field."},
    429: {
        "model": ErrorResponse,
        "description": "This client exceeded the API's rate limit.",
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
    },
    500: {"model": ErrorResponse, "description": "`Analysis failed: …` (never a stack trace)."},
}


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


# ---------------------------------------------------------------- secrets and safe messages


def _configured_token(settings: Settings) -> str | None:
    token = settings.analytics_api_token
    value = token.get_secret_value().strip() if token else ""
    return value or None


def token_id(token: str) -> str:
    """Who called, for the audit log and the rate limit: a short hash, never the token."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def _redactor(settings: Settings) -> Callable[[str], str]:
    secrets = [
        s
        for s in (
            settings.llm_api_key.get_secret_value() if settings.llm_api_key else "",
            _configured_token(settings) or "",
        )
        if s.strip()
    ]

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "[redacted]")
        return text

    return redact


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE_CHARS else line[: _MAX_MESSAGE_CHARS - 1] + "…"


def _in_request(issues: Sequence[ImportIssue], root: str) -> list[ImportIssue]:
    """Importer locations (`$[3]`) as places in the request body (`sessions[3]`, `session`)."""
    return [
        i.model_copy(
            update={"location": root + i.location.removeprefix("$" if root == "sessions" else "$[0]")}
        )
        if i.location.startswith("$")
        else i
        for i in issues
    ]


def _issue_text(issue: ImportIssue) -> str:
    """`session 'x': field 'ttl_seconds': …`, or `field 'sessions[2]': …` for a record that is no session."""
    if issue.field:
        if issue.session_id:
            where = f"session '{issue.session_id}'"
        else:  # in a batch, which record; /analyze has only the one
            where = "" if issue.location == "session" else issue.location
        return f"{where + ': ' if where else ''}field '{issue.field}': {issue.message}"
    if issue.location:
        return f"field '{issue.location}': {issue.message}"
    return issue.message


def _field_errors(issues: Sequence[ImportIssue]) -> list[FieldError]:
    return [
        FieldError(field=i.field, message=i.message, session_id=i.session_id, location=i.location)
        for i in issues
    ]


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


def _failure_detail(exc: BaseException) -> str:
    """An unexpected error's text may hold anything (SQL, paths, keys): say only its kind."""
    return f"Analysis failed: internal error ({type(exc).__name__}); see the server log"


class _AnalyzerLoop:
    """One event loop in a daemon thread runs every analyzer coroutine.

    Their CPU parts (diagnosis, what-if quotes, offline reports) stay off the server's loop, which
    keeps answering; and LLM calls still share one HTTP client and one requests-per-minute budget,
    which a fresh loop per request (the analyzer's sync methods) would not. Started on first use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="chatkit-api-analyzer", daemon=True
                )
                self._thread.start()
            return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` on the analyzer loop; cancelling the caller cancels it there too."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._running()))

    def close(self, analyzer: ChatKitAnalyzer) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        if analyzer.llm is not None:  # its HTTP client belongs to this loop
            asyncio.run_coroutine_threadsafe(analyzer.llm.aclose(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# ---------------------------------------------------------------- the app


def create_app(
    settings: Settings,
    store: Store | None = None,
    analyzer: ChatKitAnalyzer | None = None,
) -> FastAPI:
    """The API over `store` and `analyzer` (built from `settings` when not given)."""
    store = store if store is not None else Store.from_settings(settings)
    analyzer = analyzer if analyzer is not None else ChatKitAnalyzer(settings, store=store, actor="api")
    expected_token = _configured_token(settings)
    redact = _redactor(settings)
    analyzer_loop = _AnalyzerLoop()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(analyzer_loop.close, analyzer)

    # Swagger UI's files are served from the package, not a CDN: /docs works on a closed network.
    app = FastAPIOffline(
        lifespan=lifespan,
        title="ChatKit Session Analytics API",
        summary="Why ChatKit sessions were cancelled or expired, and what to do about it.",
        version="1.0.0",
        openapi_tags=[{"name": TAG, "description": "Session analysis, batch analysis, health."}],
    )
    app.state.settings = settings
    app.state.store = store
    app.state.analyzer = analyzer

    def caller_key(request: Request) -> str:
        """Rate-limit bucket: the token's id when the right token is presented, else the client IP.

        Wrong tokens share their IP's bucket, so guessing tokens is rate limited too.
        """
        presented = _bearer(request.headers.get("authorization", ""))
        if expected_token and presented and hmac.compare_digest(presented.encode(), expected_token.encode()):
            return token_id(expected_token)
        return "ip:" + get_remote_address(request)

    limiter = Limiter(
        key_func=caller_key,
        application_limits=[settings.api_rate_limit],
        headers_enabled=True,
        strategy="moving-window",
    )
    app.state.limiter = limiter  # slowapi's middleware finds it here

    async def audit(actor: str, action: str, session_ids: Sequence[str], **fields: Any) -> None:
        await run_in_threadpool(
            store.audit,
            actor,
            action,
            session_ids=list(session_ids),
            provider=analyzer.provider_name,
            model=analyzer.model,
            **fields,
        )

    async def check_token(request: Request, credentials: BearerCredentials) -> str:
        """The caller's actor id; 401 unless the configured token is presented."""
        assert expected_token is not None
        presented = credentials.credentials if credentials else ""
        if hmac.compare_digest(presented.encode(), expected_token.encode()):
            return token_id(expected_token)
        action = "api.batch" if request.url.path.endswith("/batch") else "api.analyze"
        await audit("anonymous", action, (), outcome="denied", detail="missing or wrong bearer token")
        raise HTTPException(
            status_code=401,
            detail="Missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def local_caller() -> str:
        return LOCAL_ACTOR

    # Without a token there is no security scheme at all, so the OpenAPI document tells the truth.
    require_caller = check_token if expected_token is not None else local_caller

    # Validation is CPU work: worker threads, off the event loop. Under the GIL more threads add no
    # throughput, only contention with the loop: a few slots keep it responsive.
    cpu_slots = anyio.CapacityLimiter(CPU_WORKERS)

    async def cpu(call: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(call, *args, limiter=cpu_slots)

    @app.post(
        f"{PREFIX}/analyze",
        tags=[TAG],
        response_model=AnalyzeResponse,
        responses=_ERROR_RESPONSES,
        summary="Analyze one session",
    )
    async def analyze(body: AnalyzeRequest, actor: str = Depends(require_caller)) -> AnalyzeResponse:
        result = await cpu(import_records, [body.session], "request")
        if result.errors or not result.sessions:
            errors = _in_request(result.errors, "session")
            raw_id = body.session.get("id") if isinstance(body.session, dict) else None
            ids = [raw_id] if isinstance(raw_id, str) else []
            await audit(actor, "api.analyze", ids, outcome="invalid", detail=_issues_summary(errors))
            return _invalid(errors, "Invalid session")  # type: ignore[return-value]
        session = result.sessions[0]
        try:
            report = await analyzer_loop.run(analyzer.analyze_async(session))
        except LLMAuthError as exc:
            await audit(actor, "api.analyze", [session.id], outcome="llm_auth_error", detail=str(exc))
            return JSONResponse({"detail": "Invalid API key"}, status_code=401)  # type: ignore[return-value]
        if report.error:  # the analyzer records LLM failures (after its retries) in the report
            detail = _one_line(f"Analysis failed: {redact(report.error)}")
            await audit(actor, "api.analyze", [session.id], outcome="error", detail=detail)
            return JSONResponse({"detail": detail}, status_code=500)  # type: ignore[return-value]
        await audit(actor, "api.analyze", [session.id], tokens=report.usage.total_tokens, outcome="ok")
        return AnalyzeResponse(
            session_id=session.id,
            analysis=render_report_markdown(report),
            analyzed_at=datetime.now(UTC),
            metadata=_metadata(session),
            report=report,
            diagnosis=report.diagnosis,
        )

    @app.post(
        f"{PREFIX}/batch",
        tags=[TAG],
        response_model=BatchResponse,
        responses=_ERROR_RESPONSES,
        summary="Analyze several sessions and summarize them",
    )
    async def batch(body: BatchRequest, actor: str = Depends(require_caller)) -> BatchResponse:
        cap = settings.api_max_batch_sessions
        if len(body.sessions) > cap:
            await audit(actor, "api.batch", (), outcome="too_large", detail=f"{len(body.sessions)} sessions")
            raise HTTPException(
                status_code=413,
                detail=f"Too many sessions in one batch: {len(body.sessions)}; the limit is {cap}",
            )
        result = await cpu(import_records, body.sessions, "request")
        import_errors = _in_request(result.errors, "sessions")
        if not result.sessions:
            await audit(actor, "api.batch", (), outcome="invalid", detail=_issues_summary(import_errors))
            return _invalid(import_errors, "No valid session in the batch")  # type: ignore[return-value]
        sessions = result.sessions
        ids = [s.id for s in sessions]
        try:
            if not analyzer.offline:
                # A rejected key fails the first call: probe with one session (its report is cached,
                # so the batch does not ask again) and answer 401 rather than N identical failures.
                await analyzer_loop.run(analyzer.analyze_async(sessions[0]))
            reports = await analyzer_loop.run(analyzer.analyze_batch_async(sessions))
        except LLMAuthError as exc:
            await audit(actor, "api.batch", ids, outcome="llm_auth_error", detail=str(exc))
            return JSONResponse({"detail": "Invalid API key"}, status_code=401)  # type: ignore[return-value]
        failures = [
            SessionFailure(session_id=r.session_id, error=_one_line(redact(r.error)))
            for r in reports
            if r.error
        ]
        tokens = sum(r.usage.total_tokens for r in reports)
        if len(failures) == len(reports):
            # Nothing to summarize or show: one failure for the whole request.
            detail = _one_line(
                f"Analysis failed: all {len(reports)} sessions failed; first: {failures[0].error}"
            )
            await audit(actor, "api.batch", ids, tokens=tokens, outcome="error", detail=detail)
            return JSONResponse({"detail": detail}, status_code=500)  # type: ignore[return-value]
        summary = await analyzer_loop.run(analyzer.summarize_async(sessions, reports))
        partial = bool(failures or import_errors)
        await audit(
            actor,
            "api.batch",
            ids,
            tokens=tokens + summary.usage.total_tokens,
            outcome="partial" if partial else "ok",
            detail=f"{len(failures)} failed, {len(import_errors)} rejected" if partial else "",
        )
        return BatchResponse(
            total_sessions=len(body.sessions),
            analyses={r.session_id: render_report_markdown(r) for r in reports if not r.error},
            summary=render_summary_markdown(summary),
            analyzed_at=datetime.now(UTC),
            failures=failures,
            import_errors=import_errors,
            summary_report=summary,
        )

    @app.get(f"{PREFIX}/health", tags=[TAG], response_model=HealthResponse, summary="Liveness and provider")
    async def health() -> HealthResponse:
        """Open without a token: it tells only that the service runs and which provider it uses."""
        return HealthResponse(
            status="healthy",
            service=SERVICE,
            timestamp=datetime.now(UTC),
            provider=analyzer.provider_name,
            model=analyzer.model,
            auth_required=expected_token is not None,
        )

    limiter.exempt(health)
    for route in app.routes:  # the docs are not analytics: not counted against a client's budget
        if getattr(route, "path", "") in {
            app.openapi_url,
            app.docs_url,
            app.redoc_url,
            "/docs/oauth2-redirect",
        }:
            limiter.exempt(route.endpoint)  # type: ignore[attr-defined]

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
    async def rate_limited(request: Request, exc: RateLimitExceeded) -> JSONResponse:
        response = JSONResponse(
            {"detail": f"Rate limit exceeded: {exc.detail}; retry later"}, status_code=429
        )
        # slowapi computes Retry-After (and X-RateLimit-*) from the limit that was hit.
        return limiter._inject_headers(response, request.state.view_rate_limit)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Reached only for failures outside `_CatchAll` (Starlette's last resort).
        return JSONResponse({"detail": _failure_detail(exc)}, status_code=500)

    app.add_exception_handler(Exception, unexpected)

    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(_BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(SlowAPIASGIMiddleware)
    app.add_middleware(_CatchAll, redact=redact)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.api_cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
    )
    return app


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


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


def _metadata(session: ChatKitSession) -> SessionMetadata:
    return SessionMetadata(
        status=session.status, max_requests=session.rate_limit, current_requests=session.current_requests
    )


def _issues_summary(issues: Sequence[ImportIssue]) -> str:
    return _one_line("; ".join(_issue_text(i) for i in issues[:5]))


def _invalid(issues: Sequence[ImportIssue], what: str) -> JSONResponse:
    first = _issue_text(issues[0]) if issues else "no session found in the request"
    body = ValidationErrorResponse(detail=_one_line(f"{what}: {first}"), errors=_field_errors(issues))
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


def main(host: str = "127.0.0.1", port: int = 8000, *, settings: Settings | None = None) -> None:
    """Serve the API with uvicorn. Without `ANALYTICS_API_TOKEN`, only on the loopback interface."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    settings = settings or load_settings()
    if _configured_token(settings) is None:
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
    uvicorn.run(create_app(settings), host=host, port=port)
