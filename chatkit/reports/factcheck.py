"""Fact check: where an LLM's report contradicts the deterministic facts of its session.

Pure: `fact_check(body, session, diagnosis, quotes)` reads the report's text and compares every number
it ties to a fact with that fact:

- the rate limit and its unit: the limit is per minute, so "a 30-second limit", "30 requests per
  second" or "a limit of 30 per hour" are contradictions, and so is "a limit of 25" when it is 30;
- request counts ("35 requests"), the TTL and the time to end ("a TTL of 300 s"), percentages
  ("150 % of the limit" when it is 117 %);
- ids (a session, workflow, customer or user id that is not this session's);
- the category (the report's root_cause.category, or a category name in its summary, against the
  rules' verdict).

Numbers the facts allow are: the session's own values, the diagnosis' derived values, the numbers in
the what-if quotes, and the API's documented constants (600 s maximum TTL, HTTP 429, ...). A number
not tied to a fact word ("limit", "requests", "TTL", "%"...) is only checked in `evidence`, which the
prompt asks to be "exact facts from the data, with numbers".

Before any of that, the injection guard (`reports.guard`) removes what the report may not carry — URLs,
codes copied from the session data, key-revoking advice — and puts back the rules' category where the
rules decided it from numbers; its findings come first. Every later check reads the guarded report.

It also amends the prevention list: a what-if quote whose proposed value the advice does not carry is
appended, so the numbers always reach the reader. Offline reports are written from the facts, so
they pass trivially (`source="offline"`).

One module past 500 lines: the patterns, the facts they are judged against and the rules that use
them read as one table; split, each rule would need the others' claimed spans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from chatkit.domain.models import (
    API_DEFAULT_TTL_S,
    API_TTL_RANGE_S,
    Category,
    ChatKitSession,
    Diagnosis,
    ReportBody,
)
from chatkit.reports.guard import guard

FindingKind = Literal[
    "injection", "category", "limit", "unit", "requests", "ttl", "percentage", "id", "number"
]

# Numbers any report may use: HTTP 429, the API's TTL bounds, a minute, the 90 % alert threshold, 100 %.
_CONSTANTS = {429.0, 60.0, 90.0, 100.0, 1.0, float(API_DEFAULT_TTL_S), *map(float, API_TTL_RANGE_S)}
_PCT_TOLERANCE = 1.5  # "117 %" for 116.7 %, and "116.67 %" too

_NUM = r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"
_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
}
_UNIT = r"(ms|seconds?|secs?|s|minutes?|mins?|min|hours?|hrs?|hr|h)\b"
# "30 per minute", "30 requests/min", "30 req per second", "30 rpm"
_RATE = re.compile(rf"{_NUM}\s*(?:requests?|reqs?|calls?|messages?)?\s*(?:/|per|an?|each)\s*{_UNIT}", re.I)
_RPM = re.compile(rf"{_NUM}\s*(rpm|rps|rph)\b", re.I)
# "30-second limit", "30 s limit", "limit of 30 seconds", "30-second rate limit"
_DURATION_LIMIT = re.compile(
    rf"{_NUM}[\s-]*{_UNIT}[\s-]+(?:rate[\s-]*)?(?:limit|window|quota|cap)\b"
    rf"|(?:rate[\s-]*)?limit\s+(?:of|is|was|at|=|:)?\s*{_NUM}[\s-]*{_UNIT}(?!\s*(?:/|per))",
    re.I,
)
# "limit of 30", "limit 30", "limit is 30", "30-request limit", "max_requests_per_1_minute of 30"
_LIMIT_VALUE = re.compile(
    rf"(?:limit|max_requests_per_1_minute|max requests)\s*(?:of|is|was|at|=|:|from|to)?\s*{_NUM}(?![\d.]*\s*%)"
    rf"|{_NUM}[\s-]*(?:requests?|reqs?)?[\s-]*(?:per[\s-]*minute[\s-]*)?(?:rate[\s-]*)?limit\b",
    re.I,
)
_REQUESTS = re.compile(rf"{_NUM}\s*(?:requests?|reqs?|calls?)\b(?!\s*(?:/|per|an?\s|each))", re.I)
_DURATION = re.compile(rf"{_NUM}[\s-]*{_UNIT}(?!\s*(?:/|per)\b)", re.I)
# "from 30 to 36" / "to 905 s": the value a quote proposes is what the advice must carry
_PROPOSED = re.compile(rf"\bto\s+{_NUM}", re.I)
# Words that make a number a proposal rather than the current value.
_PROPOSAL_WORDS = re.compile(
    r"\b(?:to|raise[sd]?|raising|increas\w*|bump\w*|set(?:ting)?|new|propos\w*|suggest\w*|recommend\w*|"
    r"higher|would|could|should|consider\w*|at least|what[\s-]if|adjust\w*|change\w*|upgrad\w*)\b",
    re.I,
)
_TTL_WORDS = re.compile(r"\bttl\b|lifetime|time[\s-]to[\s-]live|expir|expires_after|ttl_seconds", re.I)
_PERCENT = re.compile(rf"{_NUM}\s*(?:%|percent\b)", re.I)
_BARE = re.compile(rf"(?<![\w.]){_NUM}(?![\w.]*\w)")
_ID = re.compile(
    r"\b(?:cksess|sess|session|cs|workflow|wf|cust|customer|user|usr|org|proj|thread)_[0-9A-Za-z][\w-]*",
)
# Field names and enum values look like ids but are vocabulary.
_NOT_IDS = {
    "session_id",
    "session_ids",
    "workflow_id",
    "workflow_ids",
    "workflow_version",
    "customer_id",
    "customer_ids",
    "user_id",
    "user_ids",
    "thread_id",
    "thread_ids",
    "session_data",
    "session_status",
    "user_agent",
    "workflow_state",
    "session_report",
    "session_ttl",
    "user_message",
    "user_messages",
}


class Finding(BaseModel):
    """One contradiction: where the report says it, what it says, and the fact."""

    kind: FindingKind
    field: str  # "root_cause.summary", "prevention[1]", ...
    says: str  # the words of the report
    fact: str
    message: str  # "the report says a 30-second limit; the limit is 30 per minute"


class FactCheck(BaseModel):
    checked: bool = True  # False: an offline report, written from the facts
    findings: list[Finding] = Field(default_factory=list)
    prevention: list[str] = Field(default_factory=list)  # the report's advice, plus missing quotes
    body: ReportBody | None = None  # the report as it may be shown: guarded, its prevention amended
    added_quotes: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def count(self) -> int:
        return len(self.findings)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:g}"


def _numbers(text: str) -> set[float]:
    return {_number(m.group(1)) for m in _BARE.finditer(text)}


@dataclass(frozen=True)
class _Facts:
    limit: int | None
    requests: int | None
    ttl: int | None
    time_to_end: float | None
    overage: int | None
    percents: tuple[float, ...]  # utilization and its over-share, in %
    quote_numbers: frozenset[float]
    proposed: frozenset[float]  # the values the what-if quotes propose ("from 30 to 36": 36)
    ids: frozenset[str]
    category: Category

    @property
    def counts(self) -> set[float]:
        """Numbers a request count may have."""
        under = self.limit - self.requests if self.limit is not None and self.requests is not None else None
        values = {self.limit, self.requests, self.overage, under}
        return {float(v) for v in values if v is not None} | self.quote_numbers

    @property
    def durations(self) -> set[float]:
        values = {self.ttl, self.time_to_end}
        return {float(v) for v in values if v is not None} | self.quote_numbers | _CONSTANTS

    def all_numbers(self) -> set[float]:
        extra = {float(round(p)) for p in self.percents}
        if self.time_to_end is not None:
            extra.add(float(round(self.time_to_end)))
        return self.counts | self.durations | extra | set(self.percents)

    def limit_text(self) -> str:
        return f"the limit is {self.limit} per minute" if self.limit is not None else "the limit is unknown"


def _facts(
    session: ChatKitSession, diagnosis: Diagnosis, quotes: Sequence[str], known_ids: Iterable[str]
) -> _Facts:
    percents: list[float] = []
    if diagnosis.utilization is not None:
        percents += [diagnosis.utilization * 100, (diagnosis.utilization - 1) * 100]
    if diagnosis.time_to_end_s is not None and diagnosis.ttl_s:
        percents.append(diagnosis.time_to_end_s / diagnosis.ttl_s * 100)
    quote_numbers = frozenset(n for q in quotes for n in _numbers(q))
    ids = {x for x in (session.id, session.workflow_id, session.customer_id, session.user) if x}
    ids |= set(known_ids)
    for text in (*quotes, *diagnosis.evidence, session.reason or ""):
        ids |= {m.group(0) for m in _ID.finditer(text)}
    return _Facts(
        limit=session.rate_limit,
        requests=session.current_requests,
        ttl=diagnosis.ttl_s,
        time_to_end=diagnosis.time_to_end_s,
        overage=diagnosis.overage,
        percents=tuple(percents),
        quote_numbers=quote_numbers,
        proposed=frozenset(_number(m.group(1)) for q in quotes for m in _PROPOSED.finditer(q)),
        ids=frozenset(ids),
        category=diagnosis.category,
    )


def _texts(body: ReportBody) -> list[tuple[str, str]]:
    out = [("root_cause.summary", body.root_cause.summary), ("impact", body.impact)]
    out += [(f"root_cause.evidence[{i}]", t) for i, t in enumerate(body.root_cause.evidence)]
    out += [(f"recovery_steps[{i}]", t) for i, t in enumerate(body.recovery_steps)]
    out += [(f"prevention[{i}]", t) for i, t in enumerate(body.prevention)]
    return out


class _Checker:
    def __init__(self, facts: _Facts) -> None:
        self.facts = facts
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, kind: FindingKind, field: str, says: str, fact: str, message: str) -> None:
        key = (kind, message)
        if key not in self._seen:  # the same slip repeated in five fields is one finding, not five
            self._seen.add(key)
            self.findings.append(Finding(kind=kind, field=field, says=says, fact=fact, message=message))

    def check(self, field: str, text: str) -> None:
        f = self.facts
        claimed: list[tuple[int, int]] = []  # spans already judged, so a later, looser rule skips them

        flagged: list[tuple[int, int]] = []  # spans that produced a finding
        right: list[tuple[int, int]] = []  # spans judged right in another unit

        def flag(match: re.Match[str], *args: Any) -> None:
            flagged.append(match.span())
            self.add(*args)

        def take(match: re.Match[str]) -> bool:
            span = match.span()
            if any(a < span[1] and span[0] < b for a, b in claimed):
                return False
            claimed.append(span)
            return True

        # 1. the limit stated as a duration: "30-second limit", "limit of 30 seconds"
        for m in _DURATION_LIMIT.finditer(text):
            value = _number(m.group(1) or m.group(3))
            unit = (m.group(2) or m.group(4)).lower()
            if not take(m):
                continue
            if f.limit is not None and value == f.limit:
                flag(
                    m,
                    "unit",
                    field,
                    m.group(0),
                    f.limit_text(),
                    f"the report says a {_fmt(value)}-{_unit_word(unit)} limit; {f.limit_text()}",
                )
            elif f.limit is not None and value * _SECONDS[unit] not in f.durations:
                flag(
                    m,
                    "limit",
                    field,
                    m.group(0),
                    f.limit_text(),
                    f"the report says a limit of {_fmt(value)} {_unit_word(unit)}s; {f.limit_text()}",
                )
        # 2. rates: "30 requests per second" (wrong unit) or "25 per minute" (wrong value)
        for m in [*_RATE.finditer(text), *_RPM.finditer(text)]:
            value = _number(m.group(1))
            unit = m.group(2).lower()
            per_minute = unit in {"min", "mins", "minute", "minutes", "rpm"}
            if not take(m):
                continue
            if not per_minute:
                if f.limit is not None and (value == f.limit or value not in f.counts):
                    word = {"rps": "second", "rph": "hour"}.get(unit) or _unit_word(unit)
                    flag(
                        m,
                        "unit",
                        field,
                        m.group(0),
                        f.limit_text(),
                        f"the report says {_fmt(value)} per {word}; {f.limit_text()}",
                    )
            elif self._proposal_as_current(text, m, value):
                flag(m, "limit", field, m.group(0), f.limit_text(), self._proposal_message(value))
            elif f.limit is not None and value not in f.counts:
                flag(
                    m,
                    "limit",
                    field,
                    m.group(0),
                    f.limit_text(),
                    f"the report says {_fmt(value)} per minute; {f.limit_text()}"
                    + (f" and the session made {f.requests} requests" if f.requests is not None else ""),
                )
        # 3. the limit's value: "limit of 25"
        for m in _LIMIT_VALUE.finditer(text):
            value = _number(m.group(1) or m.group(2))
            if not take(m):
                continue
            if self._proposal_as_current(text, m, value):
                flag(m, "limit", field, m.group(0), f.limit_text(), self._proposal_message(value))
            elif f.limit is not None and value not in f.counts:
                flag(
                    m,
                    "limit",
                    field,
                    m.group(0),
                    f.limit_text(),
                    f"the report says a limit of {_fmt(value)}; {f.limit_text()}",
                )
        # 4. request counts: "45 requests"
        for m in _REQUESTS.finditer(text):
            value = _number(m.group(1))
            if not take(m):
                continue
            if f.requests is not None and value not in f.counts:
                flag(
                    m,
                    "requests",
                    field,
                    m.group(0),
                    f"the session made {f.requests} requests",
                    f"the report says {_fmt(value)} requests; the session made {f.requests} requests"
                    + (f" against a limit of {f.limit} per minute" if f.limit is not None else ""),
                )
        # 5. durations: TTL and time to end
        for m in _DURATION.finditer(text):
            value = _number(m.group(1))
            unit = m.group(2).lower()
            if not take(m):
                continue
            seconds = value * _SECONDS[unit]
            near_ttl = bool(_TTL_WORDS.search(text[max(0, m.start() - 40) : m.end() + 40]))
            if (
                seconds in f.durations
                or value in f.durations
                or (f.time_to_end is not None and abs(seconds - f.time_to_end) < 1)
            ):
                right.append(m.span())  # "15 minutes" for a 900 s TTL: 15 is no invented number
                continue
            if near_ttl and f.ttl is not None:
                flag(
                    m,
                    "ttl",
                    field,
                    m.group(0),
                    f"the TTL is {f.ttl} s",
                    f"the report says {_fmt(value)} {_unit_word(unit)}s; the TTL is {f.ttl} s"
                    + (
                        f" and the session ended after {f.time_to_end:.0f} s"
                        if f.time_to_end is not None
                        else ""
                    ),
                )
            elif field.startswith("root_cause") and (f.ttl is not None or f.time_to_end is not None):
                flag(
                    m,
                    "number",
                    field,
                    m.group(0),
                    self._timing(),
                    f"the report says {_fmt(value)} {_unit_word(unit)}s; {self._timing()}",
                )
        # 6. percentages
        for m in _PERCENT.finditer(text):
            value = _number(m.group(1))
            if not take(m):
                continue
            if value in _CONSTANTS or value in f.quote_numbers:
                continue
            if any(abs(value - p) <= _PCT_TOLERANCE for p in f.percents):
                continue
            if f.percents:
                flag(
                    m,
                    "percentage",
                    field,
                    m.group(0),
                    self._usage(),
                    f"the report says {_fmt(value)} %; {self._usage()}",
                )
        # 7. any other number in the evidence, which must be facts
        if field.startswith("root_cause.evidence"):
            allowed = f.all_numbers() | _CONSTANTS
            for m in _BARE.finditer(text):
                # judged above and found wrong: one finding is enough; judged right: allowed has it
                if any(a <= m.start() < b for a, b in (*flagged, *right)):
                    continue
                value = _number(m.group(1))
                if value not in allowed and not any(abs(value - p) <= _PCT_TOLERANCE for p in f.percents):
                    flag(
                        m,
                        "number",
                        field,
                        m.group(0),
                        "no fact has this number",
                        f"the report's evidence says {m.group(0)}, a number no fact of the session has",
                    )
        # 8. ids
        for m in _ID.finditer(text):
            token = m.group(0).rstrip("-_.")
            if token.lower() in _NOT_IDS or token in f.ids or token in {c.value for c in Category}:
                continue
            if any(token.startswith(i) or i.startswith(token) for i in f.ids if len(i) >= 6):
                continue  # "cksess_123's", a cut-off id
            known = ", ".join(sorted(f.ids)) or "none"
            flag(
                m,
                "id",
                field,
                token,
                f"the session's ids are {known}",
                f"the report names {token}, which is not this session's (its ids: {known})",
            )

    def _proposal_as_current(self, text: str, match: re.Match[str], value: float) -> bool:
        """A what-if quote's proposed limit stated as the session's limit ("it hit its limit of 36"
        when 36 is the proposal): nothing near it says raise, to, would, new..."""
        f = self.facts
        if f.limit is None or value == f.limit or value not in f.proposed:
            return False
        near = text[max(0, match.start() - 50) : match.start()] + " " + match.group(0)
        near += " " + text[match.end() : match.end() + 40]
        return not _PROPOSAL_WORDS.search(near)

    def _proposal_message(self, value: float) -> str:
        return (
            f"the report calls {_fmt(value)} the current limit; {self.facts.limit_text()} "
            f"({_fmt(value)} is the what-if proposal)"
        )

    def _timing(self) -> str:
        f = self.facts
        parts = []
        if f.ttl is not None:
            parts.append(f"the TTL is {f.ttl} s")
        if f.time_to_end is not None:
            parts.append(f"the session ended after {f.time_to_end:.0f} s")
        return " and ".join(parts)

    def _usage(self) -> str:
        f = self.facts
        if f.limit and f.requests is not None:
            return f"the session used {f.requests / f.limit * 100:.0f} % of its limit ({f.requests} of {f.limit})"
        return "the facts give " + ", ".join(f"{p:.0f} %" for p in f.percents)


def _unit_word(unit: str) -> str:
    seconds = _SECONDS.get(unit.lower(), 1)
    return {0.001: "millisecond", 1: "second", 60: "minute", 3600: "hour"}[seconds]


_CATEGORY_WORDS = {c: re.compile(rf"\b{c.value}\b", re.I) for c in Category}


def _check_category(body: ReportBody, facts: _Facts, checker: _Checker) -> None:
    said = body.root_cause.category
    if said != facts.category:
        checker.add(
            "category",
            "root_cause.category",
            said.value,
            f"the rules say {facts.category.value}",
            f"the report says {said.value}; the rules say {facts.category.value}",
        )
    for category, pattern in _CATEGORY_WORDS.items():
        if category not in (said, facts.category) and pattern.search(body.root_cause.summary):
            checker.add(
                "category",
                "root_cause.summary",
                category.value,
                f"the rules say {facts.category.value}",
                f"the report's summary says {category.value}; the rules say {facts.category.value}",
            )


def _amend(prevention: Sequence[str], quotes: Sequence[str]) -> tuple[list[str], list[str]]:
    advice = " ".join(prevention)
    carried = _numbers(advice)
    added = []
    for quote in quotes:
        proposed = [_number(m.group(1)) for m in _PROPOSED.finditer(quote)] or sorted(_numbers(quote))[-1:]
        if proposed and not any(p in carried for p in proposed) and quote not in prevention:
            added.append(quote[:1].upper() + quote[1:] + ("" if quote.endswith(".") else "."))
    return [*prevention, *added], added


def fact_check(
    body: ReportBody,
    session: ChatKitSession,
    diagnosis: Diagnosis,
    quotes: Sequence[str] = (),
    *,
    source: Literal["llm", "offline"] = "llm",
    known_ids: Iterable[str] = (),
) -> FactCheck:
    """Every contradiction between `body` and the facts, and the prevention list with the what-if
    numbers added where the advice carries none. `known_ids`: more ids the report may name (e.g.
    other sessions the caller showed it)."""
    if source == "offline":
        return FactCheck(checked=False, prevention=list(body.prevention), body=body)
    facts = _facts(session, diagnosis, quotes, known_ids)
    checker = _Checker(facts)
    body, removed = guard(body, session, diagnosis, quotes)
    for finding in removed:
        checker.add(finding.kind, finding.field, finding.says, finding.fact, finding.message)
    _check_category(body, facts, checker)
    for field, text in _texts(body):
        checker.check(field, text)
    prevention, added = _amend(body.prevention, quotes)
    shown = body.model_copy(update={"prevention": prevention})
    return FactCheck(findings=checker.findings, prevention=prevention, added_quotes=added, body=shown)
