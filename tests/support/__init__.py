"""Plain helpers the test suites share: paths, the fake key, session factories, a stand-in analyzer.

Fixtures live in conftest.py files; this module holds what tests call directly (no test functions).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
FAKE_API_KEY = "sk-test-SECRET-123"


def make_sessions(n: int, prefix: str = "cksess_") -> list[ChatKitSession]:
    return [
        ChatKitSession.model_validate(
            {
                "id": f"{prefix}{i:04d}",
                "status": "cancelled",
                "client_secret": f"ek_live_{i:04d}_supersecretvalue",
                "workflow": {"id": f"wf_{i % 3}", "version": "1"},
                "scope": {"customer_id": f"cust_{i % 5}"},
                "max_requests_per_1_minute": 30,
                "current_requests": 20 + i % 20,
                "ttl_seconds": 600,
                "created_at": 1_760_000_000 + i,
                "cancelled_at": 1_760_000_300 + i,
                "reason": "rate limit hit",
                "custom_field": {"kept": True},
            }
        )
        for i in range(n)
    ]


class StandInAnalyzer:
    """A small, deterministic analyzer with the batch interface of ChatKitAnalyzer.

    It logs every session it analyzes (to memory, and to `log_path` when given, for worker processes),
    so tests can prove nothing was analyzed twice.
    """

    provider_name = "standin"
    model = "standin-1"

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        error_ids: Sequence[str] = (),
        raise_after: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.delay_s = delay_s
        self.error_ids = set(error_ids)
        self.raise_after = raise_after
        self.log_path = log_path
        self.analyzed: list[str] = []
        self._lock = threading.Lock()

    def analyze(self, session: ChatKitSession) -> SessionReport:
        time.sleep(self.delay_s)
        with self._lock:
            if self.raise_after is not None and len(self.analyzed) >= self.raise_after:
                raise RuntimeError("provider rejected the key (401)")
            self.analyzed.append(session.id)
            if self.log_path is not None:
                with self.log_path.open("a") as log:
                    log.write(session.id + "\n")
        over = (session.current_requests or 0) > (session.rate_limit or 0)
        category = Category.rate_limited if over else Category.cancelled_manually
        diagnosis = Diagnosis(
            session_id=session.id,
            category=category,
            severity=Severity.warning,
            confidence=1.0,
            evidence=[f"{session.current_requests} requests vs limit {session.rate_limit}"],
        )
        if session.id in self.error_ids:
            return SessionReport(
                session_id=session.id,
                diagnosis=diagnosis,
                provider=self.provider_name,
                model=self.model,
                error="stand-in failure for this session",
            )
        body = ReportBody(
            root_cause=RootCause(category=category, summary=f"{session.id} was {category}"),
            impact="one conversation cut off",
            recovery_steps=["start a new session"],
            prevention=["raise the limit"],
            severity=Severity.warning,
            confidence=1.0,
        )
        return SessionReport(
            session_id=session.id,
            diagnosis=diagnosis,
            body=body,
            provider=self.provider_name,
            model=self.model,
            usage=TokenUsage(prompt_tokens=7, completion_tokens=3, total_tokens=10),
        )

    def analyze_batch(
        self,
        sessions: Sequence[ChatKitSession],
        *,
        progress: Callable[[int, int, SessionReport], None] | None = None,
        cancel: threading.Event | None = None,
        use_cache: bool = True,
    ) -> list[SessionReport]:
        reports: list[SessionReport] = []
        for session in sessions:
            if cancel is not None and cancel.is_set():
                break
            reports.append(self.analyze(session))
            if progress is not None:
                progress(len(reports), len(sessions), reports[-1])
        return reports

    def summarize(
        self, sessions: Sequence[ChatKitSession], reports: Sequence[SessionReport] | None = None
    ) -> SummaryReport:
        reports = reports or []
        return SummaryReport(
            total_sessions=len(sessions),
            counts_by_category=dict(Counter(str(r.diagnosis.category) for r in reports)),
            text=f"{len(reports)} reports over {len(sessions)} sessions",
            provider=self.provider_name,
            model=self.model,
            usage=TokenUsage(total_tokens=5),
        )
