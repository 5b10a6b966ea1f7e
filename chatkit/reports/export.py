"""Downloads of a batch report: per-session CSV, JSON and Markdown. Pure functions, no I/O.

The CSV is opened by support staff in spreadsheets, so any text cell that a spreadsheet would run
as a formula is neutralized (OWASP "CSV injection"): session content such as `reason` is untrusted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from chatkit.domain.models import ChatKitSession, SessionReport, SummaryReport
from chatkit.domain.text import csv_cell, markdown_code, markdown_text

CSV_COLUMNS = [
    "session_id",
    "workflow_id",
    "customer_id",
    "status",
    "category",
    "severity",
    "confidence",
    "evidence",
    "root_cause",
    "impact",
    "recovery_steps",
    "prevention",
    "provider",
    "model",
    "total_tokens",
    "from_cache",
    "error",
]


def report_row(
    report: SessionReport | None,
    session_id: str,
    *,
    session: ChatKitSession | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """One CSV row: the diagnosis, the report's four parts in short, and where it came from."""
    row: dict[str, Any] = dict.fromkeys(CSV_COLUMNS, "")
    row["session_id"] = session_id
    if session is not None:
        row["workflow_id"] = session.workflow_id or ""
        row["customer_id"] = session.customer_id or ""
        row["status"] = session.status or ""
    if report is not None:
        diagnosis = report.diagnosis
        row.update(
            category=diagnosis.category.value,
            severity=diagnosis.severity.value,
            confidence=round(diagnosis.confidence, 2),
            evidence="; ".join(diagnosis.evidence),
            provider=report.provider,
            model=report.model,
            total_tokens=report.usage.total_tokens,
            from_cache=report.from_cache,
        )
        if report.body is not None:
            row.update(
                root_cause=report.body.root_cause.summary,
                impact=report.body.impact,
                recovery_steps="; ".join(report.body.recovery_steps),
                prevention="; ".join(report.body.prevention),
            )
        elif report.raw_text:
            row["root_cause"] = report.raw_text[:1000]
    row["error"] = error or (report.error if report is not None else "") or ""
    return row


def reports_csv(
    reports: Sequence[SessionReport],
    *,
    errors: Mapping[str, str] | None = None,
    sessions: Mapping[str, ChatKitSession] | None = None,
) -> str:
    """CSV text of per-session results (reports, then sessions that failed), formula-safe."""
    sessions = sessions or {}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    rows = [report_row(r, r.session_id, session=sessions.get(r.session_id)) for r in reports]
    done = {r.session_id for r in reports}
    rows += [
        report_row(None, sid, session=sessions.get(sid), error=message)
        for sid, message in (errors or {}).items()
        if sid not in done
    ]
    for row in rows:
        writer.writerow({key: csv_cell(value) for key, value in row.items()})
    return out.getvalue()


def batch_json(
    reports: Sequence[SessionReport],
    summary: SummaryReport | None,
    *,
    errors: Mapping[str, str] | None = None,
    job: Mapping[str, Any] | None = None,
) -> str:
    """One JSON document: the job's facts, the summary, every report and every error."""
    document = {
        "job": dict(job or {}),
        "summary": summary.model_dump(mode="json") if summary is not None else None,
        "reports": [r.model_dump(mode="json") for r in reports],
        "errors": [{"session_id": sid, "error": msg} for sid, msg in (errors or {}).items()],
    }
    return json.dumps(document, indent=2, default=str)


def batch_markdown(
    summary_markdown: str,
    report_markdowns: Sequence[str],
    *,
    title: str = "ChatKit batch report",
    errors: Mapping[str, str] | None = None,
) -> str:
    """The summary first, then each session's report, then the sessions that could not be analyzed."""
    parts = [f"# {title}", "", summary_markdown.strip(), ""]
    for text in report_markdowns:
        parts += ["---", "", text.strip(), ""]
    if errors:
        parts += ["---", "", "## Sessions not analyzed", ""]
        parts += [f"- {markdown_code(sid)}: {markdown_text(msg)}" for sid, msg in errors.items()]
        parts.append("")
    return "\n".join(parts)
