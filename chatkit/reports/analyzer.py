"""`ChatKitAnalyzer`: the seed's API (Markdown out) on top of structured reports. It orchestrates only.

Every report starts from the deterministic diagnosis. The offline provider turns it into a four-part
report by rules (`reports.offline`); an LLM provider is asked for the same four parts as JSON
(`llm.prompts`), its answer parsed leniently and repaired once (`llm.answers`), and otherwise kept as
unstructured text. Markdown comes from `reports.render`.

Reports are cached under a hash of the exact messages the LLM is sent (pseudonyms mapped back to the
ids they stand for, so the key does not depend on the per-run pseudonym secret), the provider, the
model and the prompt version: whatever shapes the prompt (what-if quotes, LLM_MAX_REASON_CHARS) shapes
the key. Every coroutine runs on the process's LLM runtime (`llm.runtime`): one loop, one concurrency
cap and one request budget for every caller; store I/O and progress callbacks run in threads, off it.

One module past 500 lines: it is the one orchestration (single, batch, summary) over one cache key and
one runtime; the parts it calls (parsing, fact check, rendering, cache) live in their own modules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from chatkit.domain.models import (
    ChatKitSession,
    Diagnosis,
    ReportCheck,
    ReportFinding,
    SessionReport,
    SummaryReport,
    TokenUsage,
)
from chatkit.domain.rules import diagnose, diagnose_all
from chatkit.domain.text import plain_text
from chatkit.llm.answers import parse_report
from chatkit.llm.prompts import (
    PROMPT_VERSION,
    REPORT_FORMAT,
    aggregates,
    noted_reports,
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
from chatkit.llm.pseudonyms import Pseudonymizer, dataset_key
from chatkit.llm.runtime import get_runtime
from chatkit.reports.cache import AnalysisCache, MemoryCache, ReportStore, messages_key
from chatkit.reports.context import Context, coerce, coerce_all
from chatkit.reports.factcheck import fact_check
from chatkit.reports.offline import OFFLINE_MODEL, OFFLINE_PROVIDER, offline_body, offline_summary_text
from chatkit.reports.render import render_report_markdown, render_summary_markdown
from chatkit.settings import Settings, load_settings, provider_name

# The names below moved to their own modules; they stay importable from here for existing callers.
__all__ = [
    "OFFLINE_MODEL",
    "OFFLINE_PROVIDER",
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

if TYPE_CHECKING:
    from chatkit.reports.dataset import Dataset

log = logging.getLogger(__name__)

Progress = Callable[[int, int, SessionReport], None]
T = TypeVar("T")


class ChatKitAnalyzer:
    """Reports on ChatKit sessions; offline by rules, or through an OpenAI-compatible LLM.

    `llm` injects a provider (tests, custom endpoints); `actor` names who is audited.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: ReportStore | None = None,
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
            # Behind the process's gate for this endpoint; with a store, its budget is the store's.
            llm = OpenAICompatibleProvider.from_settings(settings, store_url=store.url if store else None)
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
    def cache_key(self, session: ChatKitSession, context: Context | None = None) -> str:
        """The key of `session`'s report: analysed alone, or within `context` (a batch's data set)."""
        if context is None:
            context = self._context([session], [diagnose(session)])
        return self._key(self._messages(session, diagnose(session), context), context)

    def _key(self, messages: Sequence[Mapping[str, str]], context: Context) -> str:
        return messages_key(
            messages,
            context.pseudo,
            self.provider_name,
            self.model,
            PROMPT_VERSION,
            json.dumps(REPORT_FORMAT, sort_keys=True),
            f"pseudonymize={self.settings.llm_pseudonymize_ids}",
        )

    def _messages(
        self, session: ChatKitSession, diagnosis: Diagnosis, context: Context
    ) -> list[dict[str, str]]:
        return session_messages(
            session,
            diagnosis,
            context.quotes_for(session),
            context.pseudo,
            max_chars=self.settings.llm_max_reason_chars,
            max_prompt_chars=self.settings.llm_max_prompt_chars,
        )

    def _context(self, sessions: Sequence[ChatKitSession], diagnoses: Sequence[Diagnosis]) -> Context:
        pseudo = Pseudonymizer(
            dataset_key(self._secret, sessions), enabled=self.settings.llm_pseudonymize_ids
        )
        return Context(pseudo, sessions, diagnoses)

    def analyze(
        self, session: ChatKitSession | Mapping[str, Any], *, use_cache: bool = True
    ) -> SessionReport:
        """One report. LLM failures are recorded in `error`; a rejected key raises `LLMAuthError`."""
        return self._run(self.analyze_async(session, use_cache=use_cache))

    async def analyze_async(
        self, session: ChatKitSession | Mapping[str, Any], *, use_cache: bool = True
    ) -> SessionReport:
        return await get_runtime().call(self._analyze_single(session, use_cache))

    async def _analyze_single(
        self, session: ChatKitSession | Mapping[str, Any], use_cache: bool
    ) -> SessionReport:
        s = coerce(session)
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
        items = coerce_all(sessions)
        return self._run(
            self.analyze_batch_async(items, progress=progress, cancel=cancel, use_cache=use_cache)
        )

    async def analyze_batch_async(
        self,
        sessions: Sequence[ChatKitSession],
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        use_cache: bool = True,
    ) -> list[SessionReport]:
        return await get_runtime().call(self._analyze_batch(sessions, progress, cancel, use_cache))

    async def _analyze_batch(
        self,
        sessions: Sequence[ChatKitSession],
        progress: Progress | None,
        cancel: threading.Event | None,
        use_cache: bool,
    ) -> list[SessionReport]:
        items = coerce_all(sessions)
        # CPU-heavy for big batches (a frame for the what-if quotes): in a thread, off the shared loop.
        diagnoses = await asyncio.to_thread(diagnose_all, items)
        context = self._context(items, diagnoses)
        if self.llm is not None:
            await asyncio.to_thread(context.warm)
        total = len(items)
        results: dict[int, SessionReport] = {}
        limiter = asyncio.Semaphore(self.settings.llm_concurrency)
        auth_failure: list[LLMAuthError] = []
        started = time.monotonic()
        # Progress callbacks write to stores (a job's results): a contended write may block for
        # seconds, so they run in order in one thread fed by a queue, never on the shared loop.
        announced: asyncio.Queue[SessionReport | None] = asyncio.Queue()

        async def announce() -> None:
            done = 0
            while (report := await announced.get()) is not None:
                done += 1
                if progress is not None:
                    await asyncio.to_thread(progress, done, total, report)

        announcer = asyncio.create_task(announce())

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
            announced.put_nowait(report)

        tasks = [
            asyncio.create_task(one(i, s, d)) for i, (s, d) in enumerate(zip(items, diagnoses, strict=True))
        ]
        if cancel is not None:
            watcher = asyncio.create_task(_cancel_when_set(cancel, tasks))
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        if cancel is not None:
            watcher.cancel()
        announced.put_nowait(None)
        try:
            await announcer
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed progress callback: re-raised below
            outcomes.append(exc)
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
        self, session: ChatKitSession, diagnosis: Diagnosis, context: Context, use_cache: bool
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
                answer_mode="offline",
            )
            return report, None
        messages = self._messages(session, diagnosis, context)
        key = self._key(messages, context)
        if use_cache:
            row = await asyncio.to_thread(self.cache.get_analysis, key)  # store I/O: off the shared loop
            if row is not None:
                try:
                    cached = SessionReport.model_validate(row)
                except ValidationError:
                    log.warning("cache entry for %s is unreadable; analysing again", session.id)
                else:
                    return cached.model_copy(update={"from_cache": True, "diagnosis": diagnosis}), None
        try:
            report = await self._ask_llm(session, diagnosis, context, messages)
        except LLMError as exc:
            log.warning("analysis of %s failed: %s", session.id, exc)
            await asyncio.to_thread(self._audit, session, TokenUsage(), "error", str(exc))
            return self._failed(session, diagnosis, exc), exc
        await asyncio.to_thread(
            self.cache.put_analysis,
            key,
            session.id,
            self.provider_name,
            self.model,
            report.model_dump(mode="json", exclude={"from_cache"}),
            report.usage.model_dump(),
        )
        outcome = "ok" if report.structured else "unstructured"
        await asyncio.to_thread(self._audit, session, report.usage, outcome, report.disagreement or "")
        return report, None

    async def _ask_llm(
        self,
        session: ChatKitSession,
        diagnosis: Diagnosis,
        context: Context,
        messages: list[dict[str, str]],
    ) -> SessionReport:
        assert self.llm is not None
        pseudo = context.pseudo
        started = time.monotonic()
        completion = await self.llm.complete(messages, response_format=REPORT_FORMAT)
        usage = completion.usage
        mode = completion.answer_mode
        body, problem = parse_report(completion.text)
        raw = completion.text
        if body is None:
            log.info("answer for %s was not a valid report (%s); asking once more", session.id, problem)
            repair = await self.llm.complete(
                repair_messages(messages, completion.text, problem), response_format=REPORT_FORMAT
            )
            usage = usage + repair.usage
            mode = repair.answer_mode
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
        check = ReportCheck()
        if body is not None:
            body = pseudo.restore_body(body)
            said = body.root_cause.category  # the model's own verdict, before the guard may replace it
            # Before the report is shown or stored: what it may not carry removed (the injection guard),
            # its contradictions with the facts, and the what-if numbers its prevention advice left out.
            checked = fact_check(body, session, diagnosis, context.quotes_for(session))
            body = checked.body or body
            check = ReportCheck(
                checked=True,
                findings=[ReportFinding(**f.model_dump()) for f in checked.findings],
                added_quotes=checked.added_quotes,
            )
            if checked.findings:
                log.info("fact check of %s: %d finding(s)", session.id, checked.count)
            if said != diagnosis.category:
                disagreement = (
                    f"The LLM attributes this session to {said.value}; the rule engine "
                    f"diagnosed {diagnosis.category.value} (confidence {diagnosis.confidence:.0%})."
                )
        return SessionReport(
            session_id=session.id,
            diagnosis=diagnosis,
            body=body,
            raw_text=None if body is not None else plain_text(raw, restore=pseudo.restore),
            disagreement=disagreement,
            provider=self.provider_name,
            model=self.model,
            usage=usage,
            answer_mode=mode,  # type: ignore[arg-type]  # one of the provider's modes
            fact_check=check,
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
        items = coerce_all(sessions)
        return self._run(self.summarize_async(items, reports))

    async def summarize_async(
        self, sessions: Sequence[ChatKitSession], reports: Sequence[SessionReport] | None = None
    ) -> SummaryReport:
        return await get_runtime().call(self._summarize(sessions, reports))

    async def _summarize(
        self, sessions: Sequence[ChatKitSession], reports: Sequence[SessionReport] | None
    ) -> SummaryReport:
        sessions = coerce_all(sessions)
        diagnoses = await asyncio.to_thread(diagnose_all, sessions)
        agg = aggregates(sessions, diagnoses)
        context = self._context(sessions, diagnoses)
        quotes = await asyncio.to_thread(context.quotes)
        return await self._summary(
            agg,
            quotes,
            context.pseudo,
            lambda: representative(sessions, diagnoses),
            lambda: sessions,
            reports or [],
            lambda: [s.id for s in sessions][:1000],
        )

    def summarize_dataset(
        self, dataset: Dataset, reports: Sequence[SessionReport] | None = None
    ) -> SummaryReport:
        """`summarize` of an imported data set, read from its columns: the same report, without a
        session object per row (issue 9). Only the sessions the LLM prompt shows are built."""
        return self._run(get_runtime().call(self._summarize_dataset(dataset, reports or [])))

    async def _summarize_dataset(self, dataset: Dataset, reports: Sequence[SessionReport]) -> SummaryReport:
        # Imported here: pandas costs seconds at start-up and `import chatkit.reports.analyzer` should not pay it.
        from chatkit.analytics.whatif import prevention_quotes

        agg = await asyncio.to_thread(dataset.aggregates)
        quotes = await asyncio.to_thread(lambda: list(prevention_quotes(dataset.frame)))
        pseudo = Pseudonymizer(
            await asyncio.to_thread(dataset.key, self._secret), enabled=self.settings.llm_pseudonymize_ids
        )
        return await self._summary(
            agg,
            quotes,
            pseudo,
            dataset.representative,
            lambda: dataset.sessions_for([r.session_id for r in noted_reports(reports)]),
            reports,
            lambda: dataset.first_ids(1000),
        )

    async def _summary(
        self,
        agg: dict[str, Any],
        quotes: list[str],
        pseudo: Pseudonymizer,
        examples: Callable[[], list[tuple[ChatKitSession, Diagnosis]]],
        noted_sessions: Callable[[], Sequence[ChatKitSession]],
        reports: Sequence[SessionReport],
        audited_ids: Callable[[], list[str]],
    ) -> SummaryReport:
        """The report from a data set's aggregates; the callables read sessions only for the LLM."""
        fields = {
            "total_sessions": agg["total_sessions"],
            "counts_by_category": agg["counts_by_category"],
            "top_workflows": agg["top_workflows"],
            "top_customers": agg["top_customers"],
            "utilization_percentiles": agg["utilization_percentiles"],
            "time_range": agg["time_range"],
            "what_if": quotes,
            "reports_checked": sum(1 for r in reports if r.fact_check.checked),
            "reports_with_findings": sum(1 for r in reports if r.fact_check.count),
            "provider": self.provider_name,
            "model": self.model,
        }
        offline_text = offline_summary_text(agg, quotes)
        if self.llm is None or not agg["total_sessions"]:
            return SummaryReport(**fields, text=offline_text)
        picked = await asyncio.to_thread(examples)
        notes = report_notes(reports, await asyncio.to_thread(noted_sessions), pseudo)
        messages = summary_messages(
            agg, picked, quotes, pseudo, max_chars=self.settings.llm_max_reason_chars, report_notes=notes
        )
        try:
            completion = await self.llm.complete(messages)
        except LLMError as exc:
            log.warning("summary failed: %s", exc)
            return SummaryReport(**fields, text=offline_text, error=str(exc))
        await asyncio.to_thread(self._audit_summary, audited_ids(), completion.usage)
        text = plain_text(completion.text, restore=pseudo.restore).strip() or offline_text
        return SummaryReport(**fields, text=text, usage=completion.usage)

    def _audit_summary(self, session_ids: list[str], usage: TokenUsage) -> None:
        if self.store is None:
            return
        try:
            self.store.audit(
                self.actor,
                "summarize",
                session_ids=session_ids,
                provider=self.provider_name,
                model=self.model,
                tokens=usage.total_tokens,
            )
        except Exception:
            log.exception("audit write failed for a summary")

    def test_connection(self) -> tuple[bool, str]:
        if self.llm is None:
            return True, "offline analyzer: reports come from the rule engine, no LLM needed"
        return self._run(self.llm.check())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine from sync code (any thread, a running loop or not) on the LLM runtime."""
        return get_runtime().run(coro)


async def _cancel_when_set(cancel: threading.Event, tasks: Sequence[asyncio.Task[None]]) -> None:
    while not cancel.is_set():
        if all(t.done() for t in tasks):
            return
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
