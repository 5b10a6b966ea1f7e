"""Reports as Markdown: the seed API's output, the CLI's, the API's and the dashboard's downloads.

Every string a session or an LLM wrote reaches Markdown through here, so escaping rules belong here.
"""

from __future__ import annotations

from chatkit.domain.models import SessionReport, SummaryReport
from chatkit.domain.text import markdown_text

__all__ = ["render_report_markdown", "render_summary_markdown"]


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
    lines += _fact_check_lines(report)
    cached = " · from cache" if report.from_cache else ""
    mode = f" · answer: {report.answer_mode}" if report.answer_mode else ""
    meta = f"_{report.provider} / {report.model} · {report.usage.total_tokens} tokens{mode}{cached}_"
    lines += ["", meta, ""]
    return "\n".join(lines)


def _fact_check_lines(report: SessionReport) -> list[str]:
    """The fact check next to the facts: each contradiction in the report's words and the fact's."""
    check = report.fact_check
    if not check.checked:
        return []
    if not check.findings:
        lines = ["", "### Fact check", "", "- the report agrees with the facts"]
    else:
        lines = ["", f"### Fact check: {check.count} contradiction{'s' if check.count != 1 else ''}", ""]
        # the messages quote the report's words (numbers, ids): untrusted, so rendered as text
        lines += [f"- {markdown_text(f.message)} ({f.field})" for f in check.findings]
    if check.added_quotes:
        lines.append(f"- what-if numbers added to the prevention advice: {len(check.added_quotes)}")
    return lines


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
    if summary.reports_checked:
        lines += [
            f"**Fact check:** {summary.reports_with_findings} of {summary.reports_checked} LLM reports "
            "contradict the facts of their session.",
            "",
        ]
    cached = " · from cache" if summary.from_cache else ""
    lines.append(f"_{summary.provider} / {summary.model} · {summary.usage.total_tokens} tokens{cached}_")
    return "\n".join(lines) + "\n"
