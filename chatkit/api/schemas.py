"""Request and response bodies of the REST API, and the error answers it documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainValidator

from chatkit.domain.models import ChatKitSession, Diagnosis, ImportIssue, SessionReport, SummaryReport
from chatkit.domain.sample import SEED_SESSION


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

    @classmethod
    def of(cls, session: ChatKitSession) -> SessionMetadata:
        return cls(
            status=session.status, max_requests=session.rate_limit, current_requests=session.current_requests
        )


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


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
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
