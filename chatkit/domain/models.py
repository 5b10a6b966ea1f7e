"""Pydantic models at the package's edges: sessions in, diagnoses and reports out.

`ChatKitSession` accepts both the shape the OpenAI API returns for a ChatKit session and the
seed's enriched shape (with `scope`, `current_requests`, `ttl_seconds`, `cancelled_at`, `reason`),
and any mixture. Secret-like fields are dropped before validation, so no later stage can leak them.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    WrapSerializer,
    computed_field,
    model_validator,
)

from chatkit.domain.secrets import strip_secrets

# Documented limits of the ChatKit sessions API; values outside are imported with a warning.
API_TTL_RANGE_S = (1, 600)
API_DEFAULT_TTL_S = 600
API_MIN_RATE_LIMIT = 1
API_DEFAULT_RATE_LIMIT = 10
# Larger counts are not real data, and overflow the 64-bit columns of the frame (found by API fuzzing).
MAX_COUNT = 2**53 - 1

SessionStatus = Literal["active", "expired", "cancelled"]
SESSION_OBJECT = "chatkit.session"  # the API's `object` value for a ChatKit session

# Epoch values beyond this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_THRESHOLD = 1e11
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """Epoch seconds, epoch milliseconds or ISO-8601 (with or without offset; naive = UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a timestamp must be a number or an ISO-8601 date, not true/false")
    if isinstance(value, datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)) or (isinstance(value, str) and _may_be_number(value)):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("a timestamp must be a finite number")
        if abs(number) >= _EPOCH_MS_THRESHOLD:
            number /= 1000
        try:
            parsed = datetime.fromtimestamp(number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp {value!r} is out of range") from None
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date: use epoch seconds, epoch milliseconds or ISO-8601"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    else:
        raise ValueError(f"a timestamp must be a number or an ISO-8601 date, not {type(value).__name__}")
    parsed = parsed.astimezone(UTC)
    if not _MIN_TS <= parsed < _MAX_TS:
        raise ValueError(f"timestamp {value!r} is out of range (years 2000-2099 expected)")
    return parsed


def _may_be_number(text: str) -> bool:
    # "YYYY-…": float() never accepts a "-" right after a digit, so ISO dates skip its exception.
    if len(text) > 4 and text[4] == "-" and text[3] in "0123456789":
        return False
    return _is_number(text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _finite_count(value: Any) -> Any:
    """Counts may arrive as 512.0 from CSV; reject NaN/Infinity and fractions clearly. Blank = None."""
    if type(value) is int and value <= MAX_COUNT:  # the common case, first
        return value
    value = _blank_to_none(value)
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    if isinstance(value, str) and _is_number(value):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number (NaN/Infinity are not allowed)")
        if not value.is_integer():
            raise ValueError(f"must be a whole number, got {value}")
        value = int(value)
    if isinstance(value, int) and value > MAX_COUNT:
        raise ValueError(f"is out of range: at most {MAX_COUNT} is accepted, got {value}")
    return value


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _id_text(value: Any) -> Any:
    """Ids and versions sometimes arrive as numbers (CSV: `1.0`); keep them as text."""
    if type(value) is str:  # the common case, first
        return value if value.strip() else None
    value = _blank_to_none(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
Count = Annotated[NonNegativeInt | None, BeforeValidator(_finite_count)]
OptionalText = Annotated[str | None, BeforeValidator(_id_text)]


class _Open(BaseModel):
    """Unknown fields are kept, never silently dropped."""

    model_config = ConfigDict(extra="allow")


class Tracing(_Open):
    enabled: bool | None = None


class Workflow(_Open):
    id: OptionalText = None
    version: OptionalText = None
    state_variables: dict[str, str | int | float | bool | None] | None = None
    tracing: Tracing | None = None


class Scope(_Open):
    customer_id: OptionalText = None


class RateLimits(_Open):
    max_requests_per_1_minute: Count = None


class StatusChange(BaseModel):
    """One observation of a session's status: a create response, a cancel response, a log row."""

    status: SessionStatus | None
    observed_at: datetime | None = None
    source: str = ""


class ChatKitSession(_Open):
    id: Annotated[str, Field(min_length=1, max_length=512)]
    object: str = SESSION_OBJECT
    status: SessionStatus | None = None
    user: OptionalText = None
    workflow: Workflow | None = None
    scope: Scope | None = None
    max_requests_per_1_minute: Count = None
    rate_limits: RateLimits | None = None
    current_requests: Count = None
    ttl_seconds: Count = None
    created_at: Timestamp = None
    expires_at: Timestamp = None
    cancelled_at: Timestamp = None
    reason: OptionalText = None
    chatkit_configuration: dict[str, Any] | None = None
    status_history: list[StatusChange] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _drop_secrets_and_normalise_status(cls, data: Any, info: ValidationInfo) -> Any:
        # One validator, and at most one copy of the record: this runs for every session loaded.
        if not isinstance(data, dict):
            return data
        # `chatkit.ingest` strips each record in the one pass that also checks it, and says so here.
        copied = not (info.context and info.context.get("secrets_stripped"))
        if copied:
            data = strip_secrets(data)
        status = data.get("status")
        if isinstance(status, str):
            lowered = status.strip().lower()
            normal = "cancelled" if lowered == "canceled" else lowered or None
            if normal != status:
                data = data if copied else dict(data)  # never change the caller's dict
                data["status"] = normal
        return data

    # Derived facts: the real API object lacks several of them, so each may be None.
    @property
    def workflow_id(self) -> str | None:
        return self.workflow.id if self.workflow else None

    @property
    def customer_id(self) -> str | None:
        """The customer dimension: `scope.customer_id`, else the API's `user`."""
        if self.scope and self.scope.customer_id:
            return self.scope.customer_id
        return self.user

    @property
    def rate_limit(self) -> int | None:
        if self.max_requests_per_1_minute is not None:
            return self.max_requests_per_1_minute
        return self.rate_limits.max_requests_per_1_minute if self.rate_limits else None

    @property
    def ttl(self) -> int | None:
        """Configured lifetime in seconds: `ttl_seconds`, else `expires_at - created_at`."""
        if self.ttl_seconds is not None:
            return self.ttl_seconds
        if self.expires_at and self.created_at:
            return max(0, round((self.expires_at - self.created_at).total_seconds()))
        return None

    @property
    def ended_at(self) -> datetime | None:
        if self.cancelled_at:
            return self.cancelled_at
        if self.status == "expired":
            return self.expires_at
        return None

    def config_warnings(self) -> list[str]:
        """Values outside what the API documents: imported, but worth a word."""
        out: list[str] = []
        lo, hi = API_TTL_RANGE_S
        if self.ttl is not None and not lo <= self.ttl <= hi:
            out.append(f"ttl {self.ttl} s is outside the API's documented {lo}-{hi} s")
        if self.rate_limit is not None and self.rate_limit < API_MIN_RATE_LIMIT:
            out.append(
                f"max_requests_per_1_minute {self.rate_limit} is below the API's minimum of "
                f"{API_MIN_RATE_LIMIT}"
            )
        if (
            self.max_requests_per_1_minute is not None
            and self.rate_limits is not None
            and self.rate_limits.max_requests_per_1_minute is not None
            and self.rate_limits.max_requests_per_1_minute != self.max_requests_per_1_minute
        ):
            out.append(
                "max_requests_per_1_minute and rate_limits.max_requests_per_1_minute differ "
                f"({self.max_requests_per_1_minute} vs {self.rate_limits.max_requests_per_1_minute}); "
                "the top-level value is used"
            )
        return out

    def canonical_json(self) -> str:
        """Stable text of the session's content (secrets already removed): the cache key's base."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


class IssueLevel(StrEnum):
    error = "error"
    warning = "warning"


class ImportIssue(BaseModel):
    """One problem found at import, in words a support person understands."""

    level: IssueLevel = IssueLevel.error
    file: str
    location: str = ""  # "row 12", "line 3", "$.data[4]", "whole file"
    session_id: str | None = None
    field: str | None = None
    message: str

    def __str__(self) -> str:
        where = ", ".join(x for x in (self.file, self.location) if x)
        what = f" [{self.session_id}]" if self.session_id else ""
        field = f" field '{self.field}':" if self.field else ""
        return f"{where}{what}:{field} {self.message}"


def _listed(issues: Sequence[ImportIssue], handler: SerializerFunctionWrapHandler) -> Any:
    """A dump of any sequence of issues as the list it was before it could be columns."""
    return handler(list(issues))


class ImportResult(BaseModel):
    """What an import read: its sessions, and every problem with where it is.

    `sessions` are objects for the callers that need them (a pasted session, the API, a test); the
    file importer's subclass (`chatkit.ingest.table_import.TableImport`) keeps a session table and the
    raw records instead and builds them only when asked, since a million objects do not fit in memory.
    `warnings` is any sequence, kept as given: the file import's are columns
    (`chatkit.ingest.issue_columns.IssueColumns`), an object built only when one is read.
    """

    errors: list[ImportIssue] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    rows_read: int = 0
    _warnings: Sequence[ImportIssue] = PrivateAttr(default_factory=list)
    _sessions: list[ChatKitSession] | None = PrivateAttr(default=None)

    def __init__(
        self,
        sessions: Sequence[ChatKitSession] | None = None,
        warnings: Sequence[ImportIssue] | None = None,
        **data: Any,
    ) -> None:
        super().__init__(**data)
        if warnings is not None:
            self._warnings = warnings
        if sessions is not None:
            self._sessions = list(sessions)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> Annotated[Sequence[ImportIssue], WrapSerializer(_listed)]:
        """Imported, but worth a word: in file and row order. Never changed in place; replaced."""
        return self._warnings

    @warnings.setter
    def warnings(self, value: Sequence[ImportIssue]) -> None:
        self._warnings = value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sessions(self) -> list[ChatKitSession]:
        """Every session, in order of first appearance (built once, on first use, by a subclass)."""
        if self._sessions is None:
            self._sessions = self._build_sessions()
        return self._sessions

    def _build_sessions(self) -> list[ChatKitSession]:
        return []

    @property
    def session_count(self) -> int:
        return len(self.sessions)

    def session_ids(self) -> list[str]:
        return [session.id for session in self.sessions]

    def head(self, limit: int) -> list[ChatKitSession]:
        """The first `limit` sessions (a preview), without building the others where that is possible."""
        return self.sessions[:limit]

    @property
    def ok(self) -> bool:
        return not self.errors


class Category(StrEnum):
    rate_limited = "rate_limited"
    ttl_expired = "ttl_expired"
    cancelled_manually = "cancelled_manually"
    active = "active"
    undetermined = "undetermined"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Diagnosis(BaseModel):
    """The deterministic verdict on one session, with the facts behind it."""

    session_id: str
    category: Category
    severity: Severity
    confidence: float = Field(ge=0, le=1)
    evidence: list[str] = Field(default_factory=list)
    missing_fields: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)  # e.g. a reason that contradicts the numbers
    utilization: float | None = None  # current_requests / limit (1.17 = 117 %)
    overage: int | None = None  # requests above the limit
    time_to_end_s: float | None = None  # created_at -> cancelled/expired
    ttl_s: int | None = None


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class RootCause(BaseModel):
    category: Category
    summary: str
    evidence: list[str] = Field(default_factory=list)


class ReportBody(BaseModel):
    """The four parts the LLM is asked for, as JSON; also what the offline analyzer writes."""

    root_cause: RootCause
    impact: str
    recovery_steps: list[str]
    prevention: list[str]
    severity: Severity
    confidence: float = Field(ge=0, le=1)


AnswerMode = Literal["json_schema", "json_object", "text", "offline"]


class ReportFinding(BaseModel):
    """Where a report contradicts a fact of its session (found by `chatkit.reports.factcheck`)."""

    kind: str  # category | limit | unit | requests | ttl | percentage | id | number
    field: str  # "root_cause.summary", "prevention[1]", ...
    says: str
    fact: str
    message: str  # "the report says a 30-second limit; the limit is 30 per minute"


class ReportCheck(BaseModel):
    """The fact check of one report: run on every LLM report; offline reports pass it trivially."""

    checked: bool = False
    findings: list[ReportFinding] = Field(default_factory=list)
    added_quotes: list[str] = Field(default_factory=list)  # what-if numbers added to the prevention

    @computed_field  # type: ignore[prop-decorator]
    @property
    def count(self) -> int:
        return len(self.findings)


class SessionReport(BaseModel):
    session_id: str
    diagnosis: Diagnosis
    body: ReportBody | None = None  # None when the model's output could not be structured
    raw_text: str | None = None  # the model's text when unstructured
    disagreement: str | None = None  # where the LLM's root cause differs from the diagnosis
    provider: str
    model: str
    usage: TokenUsage = Field(default_factory=TokenUsage)
    from_cache: bool = False
    error: str | None = None
    analyzed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # How the answer was constrained (None: a report stored before this field, or a failed call).
    answer_mode: AnswerMode | None = None
    fact_check: ReportCheck = Field(default_factory=ReportCheck)

    @property
    def structured(self) -> bool:
        return self.body is not None


class SummaryReport(BaseModel):
    total_sessions: int
    counts_by_category: dict[str, int]
    top_workflows: list[tuple[str, int]] = Field(default_factory=list)
    top_customers: list[tuple[str, int]] = Field(default_factory=list)
    utilization_percentiles: dict[str, float | None] = Field(default_factory=dict)
    time_range: tuple[datetime | None, datetime | None] = (None, None)
    reports_checked: int = 0  # LLM reports the fact check ran on
    reports_with_findings: int = 0  # of those, reports that contradict their session's facts
    what_if: list[str] = Field(default_factory=list)  # quoted prevention numbers
    text: str  # Markdown narrative (LLM or offline)
    provider: str
    model: str
    usage: TokenUsage = Field(default_factory=TokenUsage)
    from_cache: bool = False
    error: str | None = None
    analyzed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
