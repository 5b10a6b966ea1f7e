"""The batch downloads: CSV cells a spreadsheet would run are neutralized; nothing is lost."""

from __future__ import annotations

import csv
import io
import json

import pytest

from chatkit.domain.models import (
    Category,
    ChatKitSession,
    Diagnosis,
    ReportBody,
    RootCause,
    SessionReport,
    Severity,
    TokenUsage,
)
from chatkit.domain.text import csv_cell as neutralize_cell  # the one rule export uses
from chatkit.reports.export import CSV_COLUMNS, batch_json, batch_markdown, reports_csv


def _report(session_id: str, *, reason_text: str = "over the limit", body: bool = True) -> SessionReport:
    diagnosis = Diagnosis(
        session_id=session_id,
        category=Category.rate_limited,
        severity=Severity.warning,
        confidence=0.9,
        evidence=["35 requests vs limit 30: 117 % of the limit"],
    )
    report_body = ReportBody(
        root_cause=RootCause(category=Category.rate_limited, summary=reason_text),
        impact="the user lost the conversation",
        recovery_steps=["start a new session"],
        prevention=['=HYPERLINK("http://evil")', "raise the limit to 36"],
        severity=Severity.warning,
        confidence=0.9,
    )
    return SessionReport(
        session_id=session_id,
        diagnosis=diagnosis,
        body=report_body if body else None,
        raw_text=None if body else "+unstructured text",
        provider="offline",
        model="offline-rules",
        usage=TokenUsage(total_tokens=12),
    )


@pytest.mark.parametrize(
    "text",
    [
        "=1+2",
        "+1",
        "-2+3",
        "@SUM(A1)",
        "\tcmd",
        "\rcmd",
        "  =1+2",
        "＝1+1",
        "=cmd|' /C calc'!A0",
        "\u00a0=1+2",
        "\ufeff@x",
    ],
)
def test_formula_like_text_is_prefixed(text: str) -> None:
    assert neutralize_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["plain", "cksess_1", "", "a=b", "rate-limited", 35, -5, 0.5, None, True])
def test_other_values_pass_unchanged(value: object) -> None:
    assert neutralize_cell(value) == value


def test_csv_rows_neutralize_untrusted_cells_and_keep_everything() -> None:
    session = ChatKitSession.model_validate(
        {"id": "=evil()", "workflow": {"id": "@wf"}, "scope": {"customer_id": "-cust"}, "status": "cancelled"}
    )
    reports = [_report("=evil()", reason_text="-1 requests left"), _report("cksess_2", body=False)]
    text = reports_csv(reports, errors={"cksess_3": "=timeout"}, sessions={session.id: session})

    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["session_id"] for r in rows] == ["'=evil()", "cksess_2", "cksess_3"]
    first = rows[0]
    assert first["workflow_id"] == "'@wf"
    assert first["customer_id"] == "'-cust"
    assert first["root_cause"] == "'-1 requests left"
    assert first["prevention"].startswith("'=HYPERLINK")
    assert first["evidence"] == "35 requests vs limit 30: 117 % of the limit"
    assert first["total_tokens"] == "12"
    assert rows[1]["root_cause"] == "'+unstructured text"
    assert rows[2]["error"] == "'=timeout"
    # No cell of the file starts a formula once read back.
    for row in rows:
        for cell in row.values():
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@"))


def test_json_download_holds_reports_and_errors() -> None:
    document = json.loads(batch_json([_report("a")], None, errors={"b": "timed out"}, job={"id": "j1"}))
    assert document["job"] == {"id": "j1"}
    assert document["summary"] is None
    assert document["reports"][0]["session_id"] == "a"
    assert document["errors"] == [{"session_id": "b", "error": "timed out"}]


def test_markdown_download_orders_summary_reports_errors() -> None:
    text = batch_markdown("## Summary\nall good", ["## Session a", "## Session b"], errors={"c": "boom"})
    assert text.index("## Summary") < text.index("## Session a") < text.index("## Session b")
    assert "- `c`: boom" in text
