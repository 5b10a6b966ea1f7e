"""The offline report: four parts written by rules from the diagnosis and the what-if numbers.

Used when no LLM is configured, and as the summary text when the LLM summary fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatkit.domain.models import (
    Category,
    ChatKitSession,
    Diagnosis,
    ReportBody,
    RootCause,
    Severity,
)

__all__ = ["OFFLINE_MODEL", "OFFLINE_PROVIDER", "offline_body", "offline_summary_text"]

OFFLINE_PROVIDER = "offline"
OFFLINE_MODEL = "rules-v1"


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


def offline_summary_text(agg: dict[str, Any], quotes: Sequence[str]) -> str:
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
