"""Reports as Markdown: the seed API's output, the CLI's, the API's and the dashboard's downloads.

Every string a session or an LLM wrote reaches Markdown through here, and through chatkit.domain.text:
data values (ids, the rule engine's evidence, which quotes `reason`) render literally, what a model
wrote keeps a safe Markdown subset (no images, links inert unless their host is allowed).
"""

from __future__ import annotations

from collections.abc import Collection

from chatkit.domain.models import SessionReport, SummaryReport
from chatkit.domain.text import code_block, llm_markdown, markdown_code, markdown_text

__all__ = ["render_report_markdown", "render_summary_markdown"]


def _llm_item(text: str, allow_hosts: Collection[str], indent: int = 2) -> str:
    """A list item a model wrote: its safe Markdown, continuation lines indented under the marker."""
    lines = llm_markdown(text, allow_hosts=allow_hosts).strip("\n").split("\n")
    return "\n".join([lines[0], *((" " * indent + line) if line else "" for line in lines[1:])])


def render_report_markdown(report: SessionReport, *, allow_hosts: Collection[str] = ()) -> str:
    d = report.diagnosis
    body = report.body
    severity = body.severity if body else d.severity
    confidence = body.confidence if body else d.confidence
    lines = [
        f"## Session {markdown_code(report.session_id)} — {(body.root_cause.category if body else d.category).value}",
        "",
        f"**Severity:** {severity.value} · **Confidence:** {confidence:.0%}",
        "",
    ]
    if report.error:
        lines += [f"> **Analysis failed:** {markdown_text(report.error)}", ""]
    if body is not None:
        lines += ["### Root cause", "", llm_markdown(body.root_cause.summary, allow_hosts=allow_hosts)]
        lines += [f"- {_llm_item(e, allow_hosts)}" for e in body.root_cause.evidence]
        impact = llm_markdown(body.impact, allow_hosts=allow_hosts)
        lines += ["", "### Impact", "", impact, "", "### Recovery steps", ""]
        steps = enumerate(body.recovery_steps, 1)
        lines += [f"{i}. {_llm_item(step, allow_hosts, len(str(i)) + 2)}" for i, step in steps]
        lines += ["", "### Prevention", ""]
        lines += [f"- {_llm_item(item, allow_hosts)}" for item in body.prevention]
        lines.append("")
    elif report.raw_text is not None:
        lines += ["> The model's answer could not be read as a structured report; its text follows.", ""]
        lines += [code_block(report.raw_text, "text"), ""]
    if report.disagreement:
        lines += [f"> **Disagreement:** {markdown_text(report.disagreement)}", ""]
    lines += [
        "### Diagnosis (rule engine)",
        "",
        f"{d.category.value}, {d.severity.value}, confidence {d.confidence:.0%}",
        "",
    ]
    shown = set(body.root_cause.evidence) if body else set()
    unshown = [e for e in d.evidence if e not in shown]  # not twice when the report quotes it
    lines += (
        [f"- {markdown_text(e)}" for e in unshown] if unshown else ["- evidence as in the root cause above"]
    )
    if d.missing_fields:
        lines.append(f"- missing: {', '.join(markdown_code(f) for f in d.missing_fields)}")
    if d.flags:
        lines.append(f"- flags: {', '.join(markdown_text(f) for f in d.flags)}")
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


def render_summary_markdown(summary: SummaryReport, *, allow_hosts: Collection[str] = ()) -> str:
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
        lines += [
            f"> **LLM summary failed** ({markdown_text(summary.error)}); the deterministic summary is shown.",
            "",
        ]
    lines += [llm_markdown(summary.text, allow_hosts=allow_hosts).strip(), ""]
    # The computed what-if quotes, each once: the offline text already lists them under "Recommended
    # actions"; an LLM's text may quote some of them, and the exact numbers must not get lost.
    unquoted = [q for q in summary.what_if if q not in summary.text]
    if unquoted:
        lines += ["### What-if", ""] + [f"- {markdown_text(q)}" for q in unquoted] + [""]
    if summary.reports_checked:
        lines += [
            f"**Fact check:** {summary.reports_with_findings} of {summary.reports_checked} LLM reports "
            "contradict the facts of their session.",
            "",
        ]
    cached = " · from cache" if summary.from_cache else ""
    lines.append(f"_{summary.provider} / {summary.model} · {summary.usage.total_tokens} tokens{cached}_")
    return "\n".join(lines) + "\n"
