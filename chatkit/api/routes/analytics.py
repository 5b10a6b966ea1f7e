"""The seed's three endpoints: analyze one session, analyze a batch, health.

Sessions are validated by `chatkit.ingest.import_records` only, so the API accepts and rejects
exactly what the dashboard and the CLI do. `include` adds them to the app: the analyses behind the
bearer-token check when a token is configured, health always open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException
from fastapi.params import Depends
from fastapi.responses import JSONResponse

from chatkit.api.deps import Caller, Context
from chatkit.api.schemas import (
    ERROR_RESPONSES,
    AnalyzeRequest,
    AnalyzeResponse,
    BatchRequest,
    BatchResponse,
    FieldError,
    HealthResponse,
    SessionFailure,
    SessionMetadata,
    ValidationErrorResponse,
)
from chatkit.domain.models import ImportIssue
from chatkit.ingest import import_records
from chatkit.reports.analyzer import LLMAuthError, render_report_markdown, render_summary_markdown

SERVICE = "chatkit_analyzer"
TAG = "Analytics"
PREFIX = "/analytics/chatkit"
# Failures are reported in one line; longer texts are cut (they are for people, not parsers).
_MAX_MESSAGE_CHARS = 300


def include(app: FastAPI, *, guard: Sequence[Depends] = ()) -> None:
    """Add the three endpoints to `app`; `guard` (the token check) runs before the two analyses.

    Added as the app's own routes, not as an included `APIRouter`: FastAPI includes routers lazily,
    and slowapi's middleware finds a route's endpoint (to apply the rate limit) only among those.
    """
    app.add_api_route(
        f"{PREFIX}/analyze",
        analyze,
        methods=["POST"],
        tags=[TAG],
        dependencies=list(guard),
        response_model=AnalyzeResponse,
        responses=ERROR_RESPONSES,
        summary="Analyze one session",
    )
    app.add_api_route(
        f"{PREFIX}/batch",
        batch,
        methods=["POST"],
        tags=[TAG],
        dependencies=list(guard),
        response_model=BatchResponse,
        responses=ERROR_RESPONSES,
        summary="Analyze several sessions and summarize them",
    )
    app.add_api_route(
        f"{PREFIX}/health",
        health,
        methods=["GET"],
        tags=[TAG],
        response_model=HealthResponse,
        summary="Liveness and provider",
    )


async def analyze(body: AnalyzeRequest, actor: Caller, ctx: Context) -> AnalyzeResponse:
    result = await ctx.cpu(import_records, [body.session], "request")
    if result.errors or not result.sessions:
        errors = _in_request(result.errors, "session")
        raw_id = body.session.get("id") if isinstance(body.session, dict) else None
        ids = [raw_id] if isinstance(raw_id, str) else []
        await ctx.audit(actor, "api.analyze", ids, outcome="invalid", detail=_issues_summary(errors))
        return _invalid(errors, "Invalid session")  # type: ignore[return-value]
    session = result.sessions[0]
    try:
        report = await ctx.analysis(ctx.analyzer.analyze_async(session), actor)
    except LLMAuthError as exc:
        await ctx.audit(actor, "api.analyze", [session.id], outcome="llm_auth_error", detail=str(exc))
        return JSONResponse({"detail": "Invalid API key"}, status_code=401)  # type: ignore[return-value]
    if report.error:  # the analyzer records LLM failures (after its retries) in the report
        detail = _one_line(f"Analysis failed: {ctx.redact(report.error)}")
        await ctx.audit(actor, "api.analyze", [session.id], outcome="error", detail=detail)
        return JSONResponse({"detail": detail}, status_code=500)  # type: ignore[return-value]
    await ctx.audit(actor, "api.analyze", [session.id], tokens=report.usage.total_tokens, outcome="ok")
    return AnalyzeResponse(
        session_id=session.id,
        analysis=render_report_markdown(report),
        analyzed_at=datetime.now(UTC),
        metadata=SessionMetadata.of(session),
        report=report,
        diagnosis=report.diagnosis,
    )


async def batch(body: BatchRequest, actor: Caller, ctx: Context) -> BatchResponse:
    cap = ctx.settings.api_max_batch_sessions
    if len(body.sessions) > cap:
        await ctx.audit(actor, "api.batch", (), outcome="too_large", detail=f"{len(body.sessions)} sessions")
        raise HTTPException(
            status_code=413,
            detail=f"Too many sessions in one batch: {len(body.sessions)}; the limit is {cap}",
        )
    result = await ctx.cpu(import_records, body.sessions, "request")
    import_errors = _in_request(result.errors, "sessions")
    if not result.sessions:
        await ctx.audit(actor, "api.batch", (), outcome="invalid", detail=_issues_summary(import_errors))
        return _invalid(import_errors, "No valid session in the batch")  # type: ignore[return-value]
    sessions = result.sessions
    ids = [s.id for s in sessions]
    analyzer = ctx.analyzer
    try:
        if not analyzer.offline:
            # A rejected key fails the first call: probe with one session (its report is cached,
            # so the batch does not ask again) and answer 401 rather than N identical failures.
            await ctx.analysis(analyzer.analyze_async(sessions[0]), actor)
        reports = await ctx.analysis(analyzer.analyze_batch_async(sessions), actor)
    except LLMAuthError as exc:
        await ctx.audit(actor, "api.batch", ids, outcome="llm_auth_error", detail=str(exc))
        return JSONResponse({"detail": "Invalid API key"}, status_code=401)  # type: ignore[return-value]
    failures = [
        SessionFailure(session_id=r.session_id, error=_one_line(ctx.redact(r.error)))
        for r in reports
        if r.error
    ]
    tokens = sum(r.usage.total_tokens for r in reports)
    if len(failures) == len(reports):
        # Nothing to summarize or show: one failure for the whole request.
        detail = _one_line(f"Analysis failed: all {len(reports)} sessions failed; first: {failures[0].error}")
        await ctx.audit(actor, "api.batch", ids, tokens=tokens, outcome="error", detail=detail)
        return JSONResponse({"detail": detail}, status_code=500)  # type: ignore[return-value]
    summary = await ctx.analysis(analyzer.summarize_async(sessions, reports), actor)
    partial = bool(failures or import_errors)
    await ctx.audit(
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


async def health(ctx: Context) -> HealthResponse:
    """Open without a token: it tells only that the service runs and which provider it uses."""
    return HealthResponse(
        status="healthy",
        service=SERVICE,
        timestamp=datetime.now(UTC),
        provider=ctx.analyzer.provider_name,
        model=ctx.analyzer.model,
        auth_required=ctx.guarded,
    )


# ---------------------------------------------------------------- import issues as answers


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


def _issues_summary(issues: Sequence[ImportIssue]) -> str:
    return _one_line("; ".join(_issue_text(i) for i in issues[:5]))


def _invalid(issues: Sequence[ImportIssue], what: str) -> JSONResponse:
    first = _issue_text(issues[0]) if issues else "no session found in the request"
    errors = [
        FieldError(field=i.field, message=i.message, session_id=i.session_id, location=i.location)
        for i in issues
    ]
    body = ValidationErrorResponse(detail=_one_line(f"{what}: {first}"), errors=errors)
    return JSONResponse(body.model_dump(mode="json"), status_code=422)
