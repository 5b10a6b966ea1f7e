"""Deterministic diagnosis: why did a ChatKit session end?

Pure functions: the same session always gives the same `Diagnosis`, with the exact facts behind it.
Numbers beat words: a `reason` is believed only where the numbers do not contradict it, and a
contradiction is flagged (`reason_contradicts_numbers`) and lowers the confidence.

Rules ("numbers" are requests vs limit and time to end vs TTL; this table is also `RULES_MARKDOWN`):

| # | Category | When (first match wins) | Severity | Confidence |
|---|----------|-------------------------|----------|------------|
| 1 | `active` | status `active` and no `cancelled_at` | `warning` at ≥ 90 % of the limit, else `info` | 1.0 |
| 2 | `ttl_expired` | status `expired` | `critical` if TTL < 60 s, else `warning` | 0.85; 0.95 when timing or reason agree |
| 3 | `rate_limited` | requests > limit (a limit of 0 is exceeded by any request) | `critical` at ≥ 150 % of the limit or limit 0, else `warning` | 0.85; 0.95 when the reason agrees |
| 4 | `ttl_expired` | ended at/after `created_at` + TTL | as rule 2 | 0.85; 0.95 when the reason agrees |
| 5 | `rate_limited` | reason says rate limit / 429 / too many requests, and requests or limit are missing | `warning` | 0.6 |
| 6 | `ttl_expired` | reason says expired / TTL / timeout, and the timing is missing | as rule 2 | 0.6 |
| 7 | `cancelled_manually` | reason from a person (admin, user, support, "manual", "closed by") and no limit or TTL evidence | `info` | 0.9 when the numbers rule out limit and TTL, else 0.7 |
| 8 | `undetermined` | nothing above decides it; `missing_fields` names the fields that would | `warning` if a reason was contradicted, else `info` | 0.3 |

- When both limit and TTL are exceeded (rules 3 and 4), a reason naming one breaks the tie, otherwise
  `rate_limited` wins; the session is flagged `limit_and_ttl_exceeded` (confidence − 0.2).
- A reason the numbers contradict (says rate limit but requests ≤ limit; says expired but it ended
  before the TTL; says manual but the numbers show limit or TTL) is flagged `reason_contradicts_numbers`
  (confidence − 0.3) and the verdict follows the numbers.
- Missing status with no `cancelled_at` is flagged `status_missing` (confidence − 0.1); status `active`
  with a `cancelled_at` is flagged `status_conflict` and judged as cancelled.
- Penalties never apply to `undetermined`, which claims nothing (its confidence stays 0.3).
- Verdicts from a reason alone (rules 5, 6) list in `missing_fields` the fields that would confirm them.
- Utilization = requests / limit (None when the limit is 0: flagged `limit_is_zero`); overage = requests
  − limit when positive, else 0; time to end = `cancelled_at` (or `expires_at` when expired) −
  `created_at`; an end before the creation is flagged `ended_before_created` and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from chatkit.domain.models import Category, ChatKitSession, Diagnosis, Severity

RULES_MARKDOWN = """\
| # | Category | When (first match wins) | Severity | Confidence |
|---|----------|-------------------------|----------|------------|
| 1 | `active` | status `active` and no `cancelled_at` | `warning` at ≥ 90 % of the limit, else `info` | 1.0 |
| 2 | `ttl_expired` | status `expired` | `critical` if TTL < 60 s, else `warning` | 0.85; 0.95 when timing or reason agree |
| 3 | `rate_limited` | requests > limit (a limit of 0 is exceeded by any request) | `critical` at ≥ 150 % of the limit or limit 0, else `warning` | 0.85; 0.95 when the reason agrees |
| 4 | `ttl_expired` | ended at/after `created_at` + TTL | as rule 2 | 0.85; 0.95 when the reason agrees |
| 5 | `rate_limited` | reason says rate limit / 429 / too many requests, and requests or limit are missing | `warning` | 0.6 |
| 6 | `ttl_expired` | reason says expired / TTL / timeout, and the timing is missing | as rule 2 | 0.6 |
| 7 | `cancelled_manually` | reason from a person (admin, user, support, "manual", "closed by") and no limit or TTL evidence | `info` | 0.9 when the numbers rule out limit and TTL, else 0.7 |
| 8 | `undetermined` | nothing above decides it; `missing_fields` names the fields that would | `warning` if a reason was contradicted, else `info` | 0.3 |

Adjustments: a reason that contradicts the numbers is flagged `reason_contradicts_numbers` and the
verdict follows the numbers (confidence − 0.3); limit and TTL both exceeded is flagged
`limit_and_ttl_exceeded` (the reason breaks the tie, else `rate_limited`; − 0.2); no status and no
`cancelled_at` is flagged `status_missing` (− 0.1); status `active` with a `cancelled_at` is flagged
`status_conflict` and judged as cancelled. Penalties never apply to `undetermined`. A limit of 0 never
divides: utilization is empty and the session is flagged `limit_is_zero`.
"""

CRITICAL_UTILIZATION = 1.5  # 50 % over the limit
NEAR_LIMIT_UTILIZATION = 0.9
CRITICAL_TTL_S = 60  # a lifetime under a minute cuts users off almost at once
_REASON_QUOTE_MAX = 200

_RATE_WORDS = re.compile(r"rate[\s_-]*limit|\b429\b|too many requests|throttl|quota", re.I)
_TTL_WORDS = re.compile(r"expir|\bttl\b|time[\s_-]*out|timed[\s_-]*out|lifetime", re.I)
_MANUAL_WORDS = re.compile(
    r"manual|\badmin|\buser\b|\bby (?:the )?(?:customer|operator|support|agent|staff|owner)"
    r"|closed by|ended by|(?:cancel+ed|stopped|terminated|killed) by|logged out|log ?out|support agent",
    re.I,
)


@dataclass(frozen=True, slots=True)
class _ReasonKind:
    rate: bool
    ttl: bool
    manual: bool


@lru_cache(maxsize=4096)  # reasons repeat a lot across sessions; classify each text once
def _classify_reason(reason: str) -> _ReasonKind:
    rate = bool(_RATE_WORDS.search(reason))
    ttl = bool(_TTL_WORDS.search(reason))
    # "cancelled by admin after rate limit" is a rate-limit reason, not a manual one
    manual = bool(_MANUAL_WORDS.search(reason)) and not (rate or ttl)
    return _ReasonKind(rate, ttl, manual)


def _num(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.0f} %"


def diagnose(session: ChatKitSession) -> Diagnosis:
    """The deterministic verdict on one session, following the rules table in the module docstring."""
    evidence: list[str] = []
    flags: list[str] = []
    missing: list[str] = []

    status = session.status
    limit = session.rate_limit
    requests = session.current_requests
    ttl = session.ttl
    created = session.created_at
    ended = session.ended_at
    reason = (session.reason or "").strip()
    kind = _classify_reason(reason) if reason else _ReasonKind(False, False, False)

    # Requests vs limit: over_limit is True/False when known, None when the numbers are missing.
    utilization: float | None = None
    overage: int | None = None
    over_limit: bool | None = None
    if limit is not None and requests is not None:
        overage = max(0, requests - limit)
        over_limit = requests > limit
        if limit == 0:
            flags.append("limit_is_zero")
            evidence.append(
                f"{requests} requests vs limit 0: the limit is 0, so utilization is undefined"
                + (f" and every request exceeds it ({requests} over)" if requests else "")
            )
        else:
            utilization = requests / limit
            if requests > limit:
                side = f"{requests - limit} over"
            elif requests == limit:
                side = "at the limit, not over"
            else:
                side = f"{limit - requests} under"
            evidence.append(
                f"{requests} requests vs limit {limit}: {_pct(utilization)} of the limit ({side})"
            )

    # Time to end vs TTL: past_ttl is True/False when known, None when the timing is missing.
    time_to_end: float | None = None
    past_ttl: bool | None = None
    if created is not None and ended is not None:
        seconds = (ended - created).total_seconds()
        if seconds < 0:
            flags.append("ended_before_created")
            evidence.append(f"ended {_num(-seconds)} s before creation: timing ignored")
        else:
            time_to_end = seconds
    verb = "expired" if status == "expired" and session.cancelled_at is None else "cancelled"
    if time_to_end is not None and ttl is not None:
        past_ttl = time_to_end >= ttl
        share = f" ({_pct(time_to_end / ttl)} of TTL)" if ttl > 0 else ""
        evidence.append(f"{verb} {_num(time_to_end)} s after creation; TTL {ttl} s{share}")
    elif time_to_end is not None:
        evidence.append(f"{verb} {_num(time_to_end)} s after creation; TTL unknown")
    elif ttl is not None and status != "active":
        evidence.append(f"TTL {ttl} s; time to end unknown")

    if reason:
        quoted = reason if len(reason) <= _REASON_QUOTE_MAX else reason[:_REASON_QUOTE_MAX] + "…"
        evidence.append(f"reason: {quoted!r}")

    def result(category: Category, severity: Severity, confidence: float) -> Diagnosis:
        # Penalties weaken a verdict; "undetermined" claims nothing, so it keeps its fixed value.
        if category != Category.undetermined:
            if "reason_contradicts_numbers" in flags:
                confidence -= 0.3
            if "limit_and_ttl_exceeded" in flags:
                confidence -= 0.2
            if "status_missing" in flags:
                confidence -= 0.1
        return Diagnosis(
            session_id=session.id,
            category=category,
            severity=severity,
            confidence=round(min(1.0, max(0.05, confidence)), 2),
            evidence=evidence,
            missing_fields=missing,
            flags=flags,
            utilization=utilization,
            overage=overage,
            time_to_end_s=time_to_end,
            ttl_s=ttl,
        )

    def rate_severity() -> Severity:
        critical = (limit == 0 and bool(requests)) or (
            utilization is not None and utilization >= CRITICAL_UTILIZATION
        )
        return Severity.critical if critical else Severity.warning

    def ttl_severity() -> Severity:
        return Severity.critical if ttl is not None and ttl < CRITICAL_TTL_S else Severity.warning

    # Rule 1: still running.
    if status == "active" and session.cancelled_at is None:
        evidence.insert(0, "status is active")
        near = utilization is not None and utilization >= NEAR_LIMIT_UTILIZATION
        if near:
            evidence.append(f"at {_pct(utilization or 0)} of its limit while active")
        return result(Category.active, Severity.warning if near else Severity.info, 1.0)
    if status == "active":
        flags.append("status_conflict")
        evidence.insert(0, "status says active but cancelled_at is set: treated as cancelled")
    if status is None and session.cancelled_at is None:
        flags.append("status_missing")
        evidence.insert(0, "status is missing")

    # Contradictions between the reason and the numbers: flagged, and the numbers decide.
    if kind.rate and over_limit is False:
        flags.append("reason_contradicts_numbers")
        evidence.append(
            f"the reason says rate limit, but {requests} requests do not exceed the limit of {limit}: "
            "the numbers win, so this is not counted as rate-limited"
        )
    if kind.ttl and past_ttl is False and status != "expired":
        flags.append("reason_contradicts_numbers")
        evidence.append(
            f"the reason says expired/timeout, but it ended {_num(time_to_end or 0)} s after creation, "
            f"before its TTL of {ttl} s: the numbers win, so this is not counted as TTL-expired"
        )
    if kind.manual and (over_limit or past_ttl or status == "expired"):
        flags.append("reason_contradicts_numbers")
        evidence.append(
            "the reason reads as a manual cancellation, but the "
            + ("status is expired" if status == "expired" else "numbers show the limit or TTL exceeded")
            + ": the numbers win"
        )
    if flags.count("reason_contradicts_numbers") > 1:
        flags.remove("reason_contradicts_numbers")

    # Rule 2: the API itself says the lifetime ran out.
    if status == "expired":
        evidence.insert(0, "status is expired: the session reached its TTL")
        agrees = past_ttl is True or kind.ttl
        if over_limit:
            flags.append("limit_and_ttl_exceeded")
            evidence.append("the limit was exceeded too, but the API reports the session as expired")
        return result(Category.ttl_expired, ttl_severity(), 0.95 if agrees else 0.85)

    # Rules 3 and 4: the numbers decide.
    if over_limit and past_ttl:
        flags.append("limit_and_ttl_exceeded")
        if kind.ttl and not kind.rate:
            evidence.append("both the limit and the TTL were exceeded; the reason names the TTL")
            return result(Category.ttl_expired, ttl_severity(), 0.95)
        evidence.append(
            "both the limit and the TTL were exceeded; "
            + ("the reason names the rate limit" if kind.rate else "counted as rate-limited")
        )
        return result(Category.rate_limited, rate_severity(), 0.95 if kind.rate else 0.85)
    if over_limit:
        return result(Category.rate_limited, rate_severity(), 0.95 if kind.rate else 0.85)
    if past_ttl:
        return result(Category.ttl_expired, ttl_severity(), 0.95 if kind.ttl else 0.85)

    # Rules 5 and 6: a reason where the numbers are missing; name what would confirm it.
    if kind.rate and over_limit is None:
        missing.extend(_rate_fields(session))
        evidence.append(f"rate limit taken from the reason alone; {' and '.join(missing)} would confirm it")
        return result(Category.rate_limited, Severity.warning, 0.6)
    if kind.ttl and past_ttl is None:
        missing.extend(_ttl_fields(session))
        confirm = f"; {' and '.join(missing)} would confirm it" if missing else ""
        evidence.append(f"expiry taken from the reason alone{confirm}")
        return result(Category.ttl_expired, ttl_severity(), 0.6)

    # Rule 7: a person ended it and nothing points at the limit or the TTL.
    if kind.manual:
        ruled_out = over_limit is False and past_ttl is False
        if ruled_out:
            evidence.append("within the limit and before the TTL: nothing but a person ended it")
        return result(Category.cancelled_manually, Severity.info, 0.9 if ruled_out else 0.7)

    # Rule 8: say what is missing rather than guess.
    if over_limit is None:
        missing.extend(_rate_fields(session))
    if past_ttl is None:
        missing.extend(_ttl_fields(session))
    if not reason:
        missing.append("reason")
    if status is None and session.cancelled_at is None:
        missing.insert(0, "status")
    if missing:
        evidence.append(f"cannot decide the cause: {', '.join(missing)} missing")
    else:
        evidence.append(
            "cannot decide the cause: within the limit, before the TTL, and the reason names no cause"
        )
    contradicted = "reason_contradicts_numbers" in flags
    return result(Category.undetermined, Severity.warning if contradicted else Severity.info, 0.3)


def _rate_fields(session: ChatKitSession) -> list[str]:
    out = []
    if session.current_requests is None:
        out.append("current_requests")
    if session.rate_limit is None:
        out.append("max_requests_per_1_minute")
    return out


def _ttl_fields(session: ChatKitSession) -> list[str]:
    out = []
    if session.created_at is None:
        out.append("created_at")
    if session.ended_at is None:
        out.append("expires_at" if session.status == "expired" else "cancelled_at")
    if session.ttl is None:
        out.append("ttl_seconds")
    return out


def diagnose_all(sessions: Iterable[ChatKitSession]) -> list[Diagnosis]:
    return [diagnose(s) for s in sessions]
