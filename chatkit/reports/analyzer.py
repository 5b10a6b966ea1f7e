"""`ChatKitAnalyzer`: the seed's API (Markdown out) on top of structured reports.

Every report starts from the deterministic diagnosis. The offline provider turns it into a four-part
report by rules; an LLM provider is asked for the same four parts as JSON, given the diagnosis as facts,
and its answer is parsed leniently (strict JSON, fenced JSON, the first balanced object in prose), repaired
once, and otherwise kept as unstructured text. Reports are cached by session content, provider, model
and prompt version, so a repeat analysis costs no LLM call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import json5
from pydantic import ValidationError

from chatkit.domain.lifecycle import merge_lifecycle
from chatkit.domain.models import (
    Category,
    ChatKitSession,
    Diagnosis,
    ReportBody,
    RootCause,
    SessionReport,
    Severity,
    SummaryReport,
    TokenUsage,
)
from chatkit.domain.rules import diagnose, diagnose_all
from chatkit.llm.prompts import (
    PROMPT_VERSION,
    REPORT_FORMAT,
    Pseudonymizer,
    aggregates,
    dataset_key,
    repair_messages,
    report_notes,
    representative,
    session_messages,
    summary_messages,
)
from chatkit.llm.provider import (
    LLMAuthError,
    LLMError,
    LLMProvider,
    LLMRateLimitError,
    LLMTimeoutError,
    OpenAICompatibleProvider,
)
from chatkit.settings import Settings, load_settings, provider_name

if TYPE_CHECKING:
    import pandas as pd

    from chatkit.store import Store

__all__ = [
    "ChatKitAnalyzer",
    "LLMAuthError",
    "LLMError",
    "LLMRateLimitError",
    "LLMTimeoutError",
    "MemoryCache",
    "offline_body",
    "parse_report",
    "render_report_markdown",
    "render_summary_markdown",
]

log = logging.getLogger(__name__)

OFFLINE_PROVIDER = "offline"
OFFLINE_MODEL = "rules-v1"
MAX_PARSE_CHARS = 100_000

Progress = Callable[[int, int, SessionReport], None]
T = TypeVar("T")


class AnalysisCache(Protocol):
    def get_analysis(self, key: str) -> dict | None: ...

    def put_analysis(
        self, key: str, session_id: str, provider: str, model: str, report: dict, usage: dict
    ) -> None: ...


class MemoryCache:
    """The Store's two cache methods over a dict: the cache when no store is given."""

    def __init__(self) -> None:
        self._rows: dict[str, dict] = {}
        self._lock = threading.Lock()

    def get_analysis(self, key: str) -> dict | None:
        with self._lock:
            row = self._rows.get(key)
        return json.loads(json.dumps(row)) if row is not None else None  # callers may mutate it

    def put_analysis(
        self, key: str, session_id: str, provider: str, model: str, report: dict, usage: dict
    ) -> None:
        with self._lock:
            self._rows[key] = report

    def __len__(self) -> int:
        return len(self._rows)


# ---- parsing the model's answer --------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\n?(.*?)```", re.S)


def _balanced_objects(text: str, limit: int = 20) -> Iterable[str]:
    """Each top-level `{...}` in `text`, string- and escape-aware (prose around JSON is common)."""
    start = text.find("{")
    tried = 0
    while start != -1 and tried < limit:
        tried += 1
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : i + 1]
                    break
        start = text.find("{", start + 1)


def _loads(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    try:
        return json5.loads(candidate)  # trailing commas, single quotes, comments
    except (ValueError, RecursionError):
        return None


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Forgive the usual small deviations: 'Rate Limited', '80%', a step list given as one string."""
    data = dict(data.get("report", data)) if isinstance(data.get("report"), dict) else dict(data)
    root = data.get("root_cause")
    if isinstance(root, dict):
        root = dict(root)
        if isinstance(root.get("category"), str):
            root["category"] = re.sub(r"[\s-]+", "_", root["category"].strip().lower())
        if isinstance(root.get("evidence"), str):
            root["evidence"] = [root["evidence"]]
        data["root_cause"] = root
    for key in ("recovery_steps", "prevention"):
        if isinstance(data.get(key), str):
            data[key] = [data[key]]
    if isinstance(data.get("severity"), str):
        data["severity"] = data["severity"].strip().lower()
    confidence = data.get("confidence")
    if isinstance(confidence, str):
        try:
            confidence = float(confidence.strip().rstrip("%")) / (100 if "%" in confidence else 1)
        except ValueError:
            confidence = None
    if isinstance(confidence, (int, float)) and 1 < confidence <= 100:
        confidence = confidence / 100
    data["confidence"] = confidence
    return data


def parse_report(text: str) -> tuple[ReportBody | None, str]:
    """The report in `text`, or None and why not. Tries strict JSON, fences, then prose."""
    text = (text or "").strip()[:MAX_PARSE_CHARS]
    if not text:
        return None, "the answer was empty"
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text)), *_balanced_objects(text)]
    problem = "no JSON object found"
    for candidate in candidates:
        data = _loads(candidate)
        if not isinstance(data, dict):
            continue
        try:
            return ReportBody.model_validate(_normalise(data)), ""
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in exc.errors()[:5])
            problem = f"JSON found but invalid at: {fields}"
    return None, problem


# ---- the offline report ----------------------------------------------------------------------------


def _who(session: ChatKitSession) -> str:
    parts = []
    if session.customer_id:
        parts.append(f"customer {session.customer_id}")
    if session.workflow_id:
        version = f" v{session.workflow.version}" if session.workflow and session.workflow.version else ""
        parts.append(f"workflow {session.workflow_id}{version}")
    return " on ".join(parts) if parts else "this session"


def offline_body(session: ChatKitSession, diagnosis: Diagnosis, quotes: Sequence[str] = ()) -> ReportBody:
    """A deterministic four-part report from the diagnosis and the what-if numbers."""
    who = _who(session)
    evidence = [*diagnosis.evidence, *session.config_warnings()]
    quotes = list(quotes)
    limit, requests, ttl = session.rate_limit, session.current_requests, diagnosis.ttl_s
    workflow = session.workflow_id or "the workflow"
    category = diagnosis.category
    contradicted = "reason_contradicts_numbers" in diagnosis.flags

    if category == Category.rate_limited:
        if requests is not None and limit is not None:
            pct = f" ({diagnosis.utilization:.0%} of the limit)" if diagnosis.utilization is not None else ""
            summary = (
                f"The session was cut off by its per-minute rate limit: {requests} requests against a "
                f"limit of {limit}{pct}, {diagnosis.overage or 0} over."
            )
            target = f"at least {requests}" if requests else "above the observed peak"
            raise_limit = f"Raise max_requests_per_1_minute for {workflow} from {limit} to {target} (the observed peak)."
        else:
            summary = (
                "The reason says the rate limit was hit, but the request count or the limit is missing, "
                f"so this is not confirmed ({', '.join(diagnosis.missing_fields) or 'numbers'} would confirm it)."
            )
            raise_limit = (
                f"Compare {workflow}'s per-minute limit with its real peak request rate before raising it."
            )
        impact = (
            f"ChatKit rejected requests from {who} once the limit was reached and the session ended: the user's "
            "conversation stopped mid-way and had to be restarted."
        )
        recovery = [
            f"Create a new session for {who}; a cancelled session cannot be resumed.",
            "Ask the user to resend their last message once the one-minute window has passed.",
            f"If this customer hits the limit repeatedly, raise {workflow}'s limit now rather than waiting.",
        ]
        prevention = [
            *(quotes or [raise_limit]),  # the data set's numbers, when there are any, say it better
            "Back off and retry on HTTP 429 in the client instead of sending more requests.",
            "Alert when a session passes 90 % of its per-minute limit, before users are cut off.",
        ]
    elif category == Category.ttl_expired:
        lived = f" after {diagnosis.time_to_end_s:.0f} s" if diagnosis.time_to_end_s is not None else ""
        ttl_text = f"its lifetime (TTL {ttl} s)" if ttl is not None else "its lifetime"
        summary = f"The session reached the end of {ttl_text}{lived} and expired."
        if diagnosis.missing_fields:
            summary += f" Not confirmed by timing: {', '.join(diagnosis.missing_fields)} would confirm it."
        impact = (
            f"The user of {who} lost the session when it expired; any message sent afterwards failed "
            "until a new session was created."
        )
        recovery = [
            f"Create a new session for {who} and let the client pick up the new client secret.",
            "Tell the user to resend the message that failed; conversation history is kept in threads.",
        ]
        prevention = [
            *quotes,
            "Refresh the client secret before `expires_at` (the ChatKit client's getClientSecret callback) "
            "so long conversations continue seamlessly.",
            f"Raise the session lifetime (expires_after) for {workflow} if conversations regularly outlast it "
            "(the API allows up to 600 s).",
        ]
    elif category == Category.cancelled_manually:
        summary = "A person ended the session: the reason names a manual cancellation"
        summary += "." if not contradicted else ", but the numbers disagree (see evidence)."
        impact = f"The conversation of {who} was ended on purpose; no limit or lifetime problem is indicated."
        recovery = [
            "Confirm with whoever cancelled it that it was intended.",
            f"If it was not, create a new session for {who}.",
        ]
        prevention = [
            *quotes,
            "Record who cancels sessions and why (a structured reason code), so manual cancellations "
            "are easy to tell from failures.",
        ]
    elif category == Category.active:
        near = diagnosis.severity == Severity.warning
        summary = "The session is still active; nothing has ended it."
        if near and diagnosis.utilization is not None:
            summary += f" It is at {diagnosis.utilization:.0%} of its per-minute limit."
        impact = "None so far." + (" The user is close to being rate-limited." if near else "")
        recovery = (
            ["No action needed."]
            if not near
            else [f"Watch {who}: at this rate the next requests will be rejected."]
        )
        prevention = [*quotes, "Alert when a session passes 90 % of its per-minute limit."]
    else:
        missing = ", ".join(diagnosis.missing_fields) or "a cause"
        summary = f"The data cannot decide why this session ended: {missing} would decide it."
        if contradicted:
            summary += " The stated reason contradicts the numbers, so it was not believed."
        impact = "Unknown: without the missing fields the effect on the user cannot be told."
        recovery = [f"Look up {session.id} in your backend logs for {missing}."]
        prevention = [
            *quotes,
            "Log created_at, cancelled_at, current_requests and a reason for every session next to the "
            "API's response, so each ending can be explained.",
        ]
    return ReportBody(
        root_cause=RootCause(category=category, summary=summary, evidence=evidence),
        impact=impact,
        recovery_steps=recovery,
        prevention=prevention,
        severity=diagnosis.severity,
        confidence=diagnosis.confidence,
    )


def _offline_summary_text(agg: dict[str, Any], quotes: Sequence[str]) -> str:
    total = agg["total_sessions"]
    counts = {k: v for k, v in agg["counts_by_category"].items() if v}
    lines = ["## Overview", f"{total} session{'s' if total != 1 else ''} analysed."]
    if counts:
        lines.append(
            ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
            + "."
        )
    critical = agg["counts_by_severity"].get("critical", 0)
    if critical:
        lines.append(f"**{critical} critical finding(s).**")
    lines += ["", "## Main causes"]
    problems = {k: v for k, v in counts.items() if k != Category.active.value}
    if not problems:
        lines.append("- No session ended with a problem.")
    for category, n in sorted(problems.items(), key=lambda kv: -kv[1]):
        lines.append(f"- {category.replace('_', ' ')}: {n} of {total} ({n / total:.0%})")
    if agg["top_workflows"]:
        lines.append("- Most affected workflows: " + ", ".join(f"{w} ({n})" for w, n in agg["top_workflows"]))
    if agg["top_customers"]:
        lines.append("- Most affected customers: " + ", ".join(f"{c} ({n})" for c, n in agg["top_customers"]))
    p = agg["utilization_percentiles"]
    if p.get("p50") is not None:
        lines.append(f"- Utilization of the per-minute limit: median {p['p50']:.0%}, p95 {p['p95']:.0%}")
    lines += ["", "## Recommended actions"]
    lines += [f"- {q}" for q in quotes]
    if problems.get(Category.rate_limited.value):
        lines.append("- Raise the per-minute limit of the most affected workflows, and back off on HTTP 429.")
    if problems.get(Category.ttl_expired.value):
        lines.append("- Refresh client secrets before they expire, or lengthen the session lifetime.")
    if problems.get(Category.undetermined.value):
        lines.append("- Log created_at, cancelled_at, current_requests and a reason with every session.")
    if not problems:
        lines.append("- None needed.")
    return "\n".join(lines)


# ---- the analyzer ----------------------------------------------------------------------------------


class _Context:
    """What one analysis run shares: pseudonyms of its data set and its what-if numbers.

    The quotes come from chatkit.analytics.whatif per workflow (None: the whole data set), each computed on first
    use: a single session needs one scope, a summary only the data set's, a cache hit none.
    """

    def __init__(
        self, pseudo: Pseudonymizer, sessions: Sequence[ChatKitSession], diagnoses: Sequence[Diagnosis]
    ) -> None:
        self.pseudo = pseudo
        self._sessions = sessions
        self._diagnoses = diagnoses
        self._ended = {
            s.workflow_id for s, d in zip(sessions, diagnoses, strict=True) if d.category != Category.active
        }
        self._frame: pd.DataFrame | None = None
        self._quotes: dict[str | None, list[str]] = {}

    def quotes(self, workflow: str | None = None) -> list[str]:
        """Prevention numbers for `workflow`'s sessions, or the data set's; none for a workflow whose
        sessions are all still active."""
        if workflow is not None and workflow not in self._ended:
            return []
        if workflow not in self._quotes:
            # Imported here: pandas costs seconds at start-up and `import chatkit.reports.analyzer` should not pay it.
            from chatkit.analytics.frame import sessions_frame
            from chatkit.analytics.whatif import prevention_quotes

            if self._frame is None:
                self._frame = sessions_frame(self._sessions, self._diagnoses)
            self._quotes[workflow] = list(prevention_quotes(self._frame, workflow=workflow))
        return self._quotes[workflow]

    def quotes_for(self, session: ChatKitSession) -> list[str]:
        return self.quotes(session.workflow_id or None)


def _content_json(session: ChatKitSession) -> str:
    """The session's content as the prompt sees it: canonical JSON without where each status was read
    (`status_history[].source`, a file name and row), so the same session from another file, path or
    upload hits the same cache entry."""
    data = session.model_dump(mode="json")
    for change in data["status_history"]:
        change.pop("source", None)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _coerce(session: ChatKitSession | Mapping[str, Any]) -> ChatKitSession:
    if isinstance(session, ChatKitSession):
        return session
    if isinstance(session, Mapping):
        data = session.get("session") if isinstance(session.get("session"), Mapping) else session
        return ChatKitSession.model_validate(dict(data))
    raise TypeError(f"expected a ChatKitSession or a mapping, got {type(session).__name__}")


def _coerce_all(sessions: Iterable[ChatKitSession | Mapping[str, Any]]) -> list[ChatKitSession]:
    """Sessions, one per id: records sharing an id (a create response, then its cancel response) are
    one session's lifecycle, merged as the importers merge them, so it is never counted twice."""
    items = [_coerce(s) for s in sessions]
    counts = Counter(s.id for s in items)
    if len(counts) == len(items):
        return items  # the common case: untouched, so cache keys stay those of `analyze`
    merged, conflicts = merge_lifecycle(items)
    for issue in conflicts:
        log.warning("%s", issue)
    single = {s.id: s for s in items if counts[s.id] == 1}
    return [single.get(s.id, s) for s in merged]


class ChatKitAnalyzer:
    """Reports on ChatKit sessions; offline by rules, or through an OpenAI-compatible LLM.

    `llm` injects a provider (tests, custom endpoints); `actor` names who is audited.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        provider: str | None = None,
        llm: LLMProvider | None = None,
        actor: str = "chatkit",
    ) -> None:
        settings = settings or load_settings()
        if provider:
            settings = settings.model_copy(update={"llm_provider": provider_name(provider)})
        self.settings = settings
        self.store = store
        self.cache: AnalysisCache = store if store is not None else MemoryCache()
        self.actor = actor
        if llm is None and settings.effective_provider != OFFLINE_PROVIDER:
            llm = OpenAICompatibleProvider.from_settings(settings)
        self.llm = llm
        self.provider_name = llm.name if llm else OFFLINE_PROVIDER
        self.model = llm.model if llm else OFFLINE_MODEL
        # Pseudonyms are keyed by this secret and the data set: stable within it, unguessable outside.
        self._secret = secrets.token_bytes(32)

    def __repr__(self) -> str:
        return f"ChatKitAnalyzer(provider={self.provider_name!r}, model={self.model!r})"

    @property
    def offline(self) -> bool:
        return self.llm is None

    # -- the seed's API: Markdown out --
    def analyze_session(self, session: ChatKitSession | Mapping[str, Any]) -> str:
        return render_report_markdown(self.analyze(session))

    def batch_analyze(self, sessions: Iterable[ChatKitSession | Mapping[str, Any]]) -> dict[str, str]:
        return {r.session_id: render_report_markdown(r) for r in self.analyze_batch(sessions)}

    def generate_summary_report(self, sessions: Iterable[ChatKitSession | Mapping[str, Any]]) -> str:
        return render_summary_markdown(self.summarize(sessions))

    # -- structured API --
    def cache_key(self, session: ChatKitSession) -> str:
        parts = [
            _content_json(session),
            self.provider_name,
            self.model,
            PROMPT_VERSION,
            f"pseudonymize={self.settings.llm_pseudonymize_ids}",
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _context(self, sessions: Sequence[ChatKitSession], diagnoses: Sequence[Diagnosis]) -> _Context:
        pseudo = Pseudonymizer(
            dataset_key(self._secret, sessions), enabled=self.settings.llm_pseudonymize_ids
        )
        return _Context(pseudo, sessions, diagnoses)

    def analyze(
        self, session: ChatKitSession | Mapping[str, Any], *, use_cache: bool = True
    ) -> SessionReport:
        """One report. LLM failures are recorded in `error`; a rejected key raises `LLMAuthError`."""
        return self._run(lambda: self.analyze_async(session, use_cache=use_cache))

    async def analyze_async(
        self, session: ChatKitSession | Mapping[str, Any], *, use_cache: bool = True
    ) -> SessionReport:
        s = _coerce(session)
        diagnosis = diagnose(s)
        report, failure = await self._analyze_one(s, diagnosis, self._context([s], [diagnosis]), use_cache)
        if isinstance(failure, LLMAuthError):
            raise failure
        return report

    def analyze_batch(
        self,
        sessions: Iterable[ChatKitSession | Mapping[str, Any]],
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        use_cache: bool = True,
    ) -> list[SessionReport]:
        """Reports in input order, one per session id (lifecycle records merged); failures are recorded
        per session; on cancel, what is done is kept."""
        items = _coerce_all(sessions)
        return self._run(
            lambda: self.analyze_batch_async(items, progress=progress, cancel=cancel, use_cache=use_cache)
        )

    async def analyze_batch_async(
        self,
        sessions: Sequence[ChatKitSession],
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        use_cache: bool = True,
    ) -> list[SessionReport]:
        items = _coerce_all(sessions)
        diagnoses = diagnose_all(items)
        context = self._context(items, diagnoses)
        total = len(items)
        results: dict[int, SessionReport] = {}
        limiter = asyncio.Semaphore(self.settings.llm_concurrency)
        auth_failure: list[LLMAuthError] = []
        started = time.monotonic()

        async def one(index: int, session: ChatKitSession, diagnosis: Diagnosis) -> None:
            async with limiter:
                if cancel is not None and cancel.is_set():
                    return
                if auth_failure:  # the key is wrong: every further call would fail the same way
                    report = self._failed(session, diagnosis, auth_failure[0])
                else:
                    report, failure = await self._analyze_one(session, diagnosis, context, use_cache)
                    if isinstance(failure, LLMAuthError):
                        auth_failure.append(failure)
            results[index] = report
            if progress is not None:
                progress(len(results), total, report)

        tasks = [
            asyncio.create_task(one(i, s, d)) for i, (s, d) in enumerate(zip(items, diagnoses, strict=True))
        ]
        if cancel is not None:
            watcher = asyncio.create_task(_cancel_when_set(cancel, tasks))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        if cancel is not None:
            watcher.cancel()
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome  # a bug or a progress callback that failed: not a per-session result
        log.info(
            "batch: %d/%d analysed in %.1f s via %s/%s%s",
            len(results),
            total,
            time.monotonic() - started,
            self.provider_name,
            self.model,
            " (cancelled)" if cancel is not None and cancel.is_set() else "",
        )
        return [results[i] for i in sorted(results)]

    def _failed(self, session: ChatKitSession, diagnosis: Diagnosis, exc: LLMError) -> SessionReport:
        return SessionReport(
            session_id=session.id,
            diagnosis=diagnosis,
            provider=self.provider_name,
            model=self.model,
            error=str(exc),
        )

    async def _analyze_one(
        self, session: ChatKitSession, diagnosis: Diagnosis, context: _Context, use_cache: bool
    ) -> tuple[SessionReport, LLMError | None]:
        """The report, and the LLM failure behind its `error` if any (callers treat auth failures apart)."""
        if self.llm is None:
            body = offline_body(session, diagnosis, context.quotes_for(session))
            report = SessionReport(
                session_id=session.id,
                diagnosis=diagnosis,
                body=body,
                provider=self.provider_name,
                model=self.model,
            )
            return report, None
        key = self.cache_key(session)
        if use_cache:
            row = self.cache.get_analysis(key)
            if row is not None:
                try:
                    cached = SessionReport.model_validate(row)
                except ValidationError:
                    log.warning("cache entry for %s is unreadable; analysing again", session.id)
                else:
                    return cached.model_copy(update={"from_cache": True, "diagnosis": diagnosis}), None
        try:
            report = await self._ask_llm(session, diagnosis, context)
        except LLMError as exc:
            log.warning("analysis of %s failed: %s", session.id, exc)
            self._audit(session, TokenUsage(), "error", str(exc))
            return self._failed(session, diagnosis, exc), exc
        self.cache.put_analysis(
            key,
            session.id,
            self.provider_name,
            self.model,
            report.model_dump(mode="json", exclude={"from_cache"}),
            report.usage.model_dump(),
        )
        self._audit(
            session, report.usage, "ok" if report.structured else "unstructured", report.disagreement or ""
        )
        return report, None

    async def _ask_llm(
        self, session: ChatKitSession, diagnosis: Diagnosis, context: _Context
    ) -> SessionReport:
        assert self.llm is not None
        pseudo = context.pseudo
        messages = session_messages(
            session,
            diagnosis,
            context.quotes_for(session),
            pseudo,
            max_chars=self.settings.llm_max_reason_chars,
        )
        started = time.monotonic()
        completion = await self.llm.complete(messages, response_format=REPORT_FORMAT)
        usage = completion.usage
        body, problem = parse_report(completion.text)
        raw = completion.text
        if body is None:
            log.info("answer for %s was not a valid report (%s); asking once more", session.id, problem)
            repair = await self.llm.complete(
                repair_messages(messages, completion.text, problem), response_format=REPORT_FORMAT
            )
            usage = usage + repair.usage
            body, problem = parse_report(repair.text)
            raw = repair.text if repair.text.strip() else raw
        log.info(
            "analysed %s via %s/%s in %.2f s: %s, %d tokens",
            session.id,
            self.provider_name,
            self.model,
            time.monotonic() - started,
            "structured" if body else f"unstructured ({problem})",
            usage.total_tokens,
        )
        disagreement = None
        if body is not None:
            body = pseudo.restore_body(body)
            if body.root_cause.category != diagnosis.category:
                disagreement = (
                    f"The LLM attributes this session to {body.root_cause.category.value}; the rule engine "
                    f"diagnosed {diagnosis.category.value} (confidence {diagnosis.confidence:.0%})."
                )
        return SessionReport(
            session_id=session.id,
            diagnosis=diagnosis,
            body=body,
            raw_text=None if body is not None else pseudo.restore(raw),
            disagreement=disagreement,
            provider=self.provider_name,
            model=self.model,
            usage=usage,
        )

    def _audit(self, session: ChatKitSession, usage: TokenUsage, outcome: str, detail: str) -> None:
        if self.store is None:
            return
        try:
            self.store.audit(
                self.actor,
                "analyze",
                session_ids=[session.id],
                provider=self.provider_name,
                model=self.model,
                tokens=usage.total_tokens,
                outcome=outcome,
                detail=detail[:500],
            )
        except Exception:
            log.exception("audit write failed for %s", session.id)

    def summarize(
        self,
        sessions: Iterable[ChatKitSession | Mapping[str, Any]],
        reports: Sequence[SessionReport] | None = None,
    ) -> SummaryReport:
        """One summary from aggregates and a few representative sessions: one LLM call at most."""
        items = _coerce_all(sessions)
        return self._run(lambda: self.summarize_async(items, reports))

    async def summarize_async(
        self, sessions: Sequence[ChatKitSession], reports: Sequence[SessionReport] | None = None
    ) -> SummaryReport:
        sessions = _coerce_all(sessions)
        diagnoses = diagnose_all(sessions)
        agg = aggregates(sessions, diagnoses)
        context = self._context(sessions, diagnoses)
        quotes = context.quotes()
        fields = {
            "total_sessions": agg["total_sessions"],
            "counts_by_category": agg["counts_by_category"],
            "top_workflows": agg["top_workflows"],
            "top_customers": agg["top_customers"],
            "utilization_percentiles": agg["utilization_percentiles"],
            "time_range": agg["time_range"],
            "what_if": quotes,
            "provider": self.provider_name,
            "model": self.model,
        }
        offline_text = _offline_summary_text(agg, quotes)
        if self.llm is None or not sessions:
            return SummaryReport(**fields, text=offline_text)
        messages = summary_messages(
            agg,
            representative(sessions, diagnoses),
            quotes,
            context.pseudo,
            max_chars=self.settings.llm_max_reason_chars,
            report_notes=report_notes(reports or [], sessions, context.pseudo),
        )
        try:
            completion = await self.llm.complete(messages)
        except LLMError as exc:
            log.warning("summary failed: %s", exc)
            return SummaryReport(**fields, text=offline_text, error=str(exc))
        if self.store is not None:
            try:
                self.store.audit(
                    self.actor,
                    "summarize",
                    session_ids=[s.id for s in sessions][:1000],
                    provider=self.provider_name,
                    model=self.model,
                    tokens=completion.usage.total_tokens,
                )
            except Exception:
                log.exception("audit write failed for a summary")
        text = context.pseudo.restore(completion.text).strip() or offline_text
        return SummaryReport(**fields, text=text, usage=completion.usage)

    def test_connection(self) -> tuple[bool, str]:
        if self.llm is None:
            return True, "offline analyzer: reports come from the rule engine, no LLM needed"
        llm = self.llm
        return self._run(llm.check)

    def _run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine from sync code, also when the caller already has an event loop running."""

        async def runner() -> T:
            try:
                return await make()
            finally:
                if self.llm is not None:
                    await self.llm.aclose()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(runner())
        with ThreadPoolExecutor(1, thread_name_prefix="chatkit-analyzer") as pool:
            return pool.submit(asyncio.run, runner()).result()


async def _cancel_when_set(cancel: threading.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    while not cancel.is_set():
        if all(t.done() for t in tasks):
            return
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()


# ---- rendering -------------------------------------------------------------------------------------


def _code_block(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text}\n{fence}"


def render_report_markdown(report: SessionReport) -> str:
    d = report.diagnosis
    body = report.body
    severity = body.severity if body else d.severity
    confidence = body.confidence if body else d.confidence
    lines = [
        f"## Session `{report.session_id}` — {(body.root_cause.category if body else d.category).value}",
        "",
        f"**Severity:** {severity.value} · **Confidence:** {confidence:.0%}",
        "",
    ]
    if report.error:
        lines += [f"> **Analysis failed:** {report.error}", ""]
    if body is not None:
        lines += ["### Root cause", "", body.root_cause.summary, ""]
        lines += [f"- {e}" for e in body.root_cause.evidence]
        lines += ["", "### Impact", "", body.impact, "", "### Recovery steps", ""]
        lines += [f"{i}. {step}" for i, step in enumerate(body.recovery_steps, 1)]
        lines += ["", "### Prevention", ""]
        lines += [f"- {item}" for item in body.prevention]
        lines.append("")
    elif report.raw_text is not None:
        lines += ["> The model's answer could not be read as a structured report; its text follows.", ""]
        lines += [_code_block(report.raw_text), ""]
    if report.disagreement:
        lines += [f"> **Disagreement:** {report.disagreement}", ""]
    lines += [
        "### Diagnosis (rule engine)",
        "",
        f"{d.category.value}, {d.severity.value}, confidence {d.confidence:.0%}",
        "",
    ]
    shown = set(body.root_cause.evidence) if body else set()
    unshown = [e for e in d.evidence if e not in shown]  # not twice when the report quotes it
    lines += [f"- {e}" for e in unshown] if unshown else ["- evidence as in the root cause above"]
    if d.missing_fields:
        lines.append(f"- missing: {', '.join(d.missing_fields)}")
    if d.flags:
        lines.append(f"- flags: {', '.join(d.flags)}")
    cached = " · from cache" if report.from_cache else ""
    lines += ["", f"_{report.provider} / {report.model} · {report.usage.total_tokens} tokens{cached}_", ""]
    return "\n".join(lines)


def render_summary_markdown(summary: SummaryReport) -> str:
    start, end = summary.time_range
    lines = ["# ChatKit sessions summary", ""]
    lines.append(
        f"**{summary.total_sessions} session{'s' if summary.total_sessions != 1 else ''}**"
        + (f" from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC" if start and end else "")
    )
    lines += ["", "| Category | Sessions |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary.counts_by_category.items()]
    lines.append("")
    if summary.error:
        lines += [f"> **LLM summary failed** ({summary.error}); the deterministic summary is shown.", ""]
    lines += [summary.text.strip(), ""]
    # The computed what-if quotes, each once: the offline text already lists them under "Recommended
    # actions"; an LLM's text may quote some of them, and the exact numbers must not get lost.
    unquoted = [q for q in summary.what_if if q not in summary.text]
    if unquoted:
        lines += ["### What-if", ""] + [f"- {q}" for q in unquoted] + [""]
    cached = " · from cache" if summary.from_cache else ""
    lines.append(f"_{summary.provider} / {summary.model} · {summary.usage.total_tokens} tokens{cached}_")
    return "\n".join(lines) + "\n"
