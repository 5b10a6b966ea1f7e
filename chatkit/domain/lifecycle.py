"""Lifecycle merge: records sharing an id are one session seen several times (pure).

The create response says `active`, the cancel response `cancelled`; a log row may add what both
lack. `merge_lifecycle` makes one session of them:
- status: a terminal status (`cancelled`, `expired`) beats `active`, whatever the order; among
  terminal statuses the last record in input order wins;
- other fields: later non-null values fill in and override earlier ones (nested objects merge key by
  key); null never erases a value;
- `status_history` lists each observation (status, observed_at, source "file:location"), active ones
  first, exact repeats dropped;
- records that really contradict each other (two different terminal statuses, or different non-null
  `workflow.id`, `workflow.version`, `scope.customer_id`, `user`, `created_at`, `cancelled_at`) give a
  warning naming both sources and the value kept (the last record in input order).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chatkit.domain.models import ChatKitSession, ImportIssue, IssueLevel, StatusChange
from chatkit.domain.wording import show

TERMINAL_STATUSES = ("cancelled", "expired")

Origin = tuple[str, str]  # (file, location) of one record


def merge_lifecycle(
    sessions: Sequence[ChatKitSession], origins: Sequence[Origin] | None = None
) -> tuple[list[ChatKitSession], list[ImportIssue]]:
    """One session per id, in order of first appearance; the rule is in the module docstring.

    `origins` gives each session's (file, location) for `status_history` and conflict warnings.
    """
    if origins is None:
        origins = [("data set", f"record {i + 1}") for i in range(len(sessions))]
    groups: dict[str, list[int]] = {}
    for index, session in enumerate(sessions):
        groups.setdefault(session.id, []).append(index)
    out: list[ChatKitSession] = []
    issues: list[ImportIssue] = []
    for indexes in groups.values():
        members = [sessions[i] for i in indexes]
        member_origins = [origins[i] for i in indexes]
        if len(members) == 1:
            session = members[0]
            if session.status and not session.status_history:
                session = session.model_copy(
                    update={"status_history": [observation(session, member_origins[0])]}
                )
            out.append(session)
        else:
            out.append(_merge_group(members, member_origins, issues))
    return out, issues


def observation(session: ChatKitSession, origin: Origin) -> StatusChange:
    """The one status observation a single record makes, with when and where it was seen."""
    observed = {
        "active": session.created_at,
        "cancelled": session.cancelled_at,
        "expired": session.expires_at,
    }.get(session.status or "")
    return StatusChange(status=session.status, observed_at=observed, source=f"{origin[0]}:{origin[1]}")


def _facts(session: ChatKitSession) -> Iterator[tuple[str, Any]]:
    """The values that must agree between records of one session (None = not known)."""
    yield "status", session.status if session.status in TERMINAL_STATUSES else None
    yield "workflow.id", session.workflow.id if session.workflow else None
    yield "workflow.version", session.workflow.version if session.workflow else None
    yield "scope.customer_id", session.scope.customer_id if session.scope else None
    yield "user", session.user
    yield "created_at", session.created_at
    yield "cancelled_at", session.cancelled_at


def _merge_group(
    members: list[ChatKitSession], origins: list[Origin], issues: list[ImportIssue]
) -> ChatKitSession:
    merged: dict[str, Any] = {}
    history: list[StatusChange] = []
    seen: dict[str, tuple[Any, str]] = {}
    terminal: str | None = None
    other: str | None = None
    for session, origin in zip(members, origins, strict=True):
        source = f"{origin[0]}:{origin[1]}"
        for label, value in _facts(session):
            if value is None:
                continue
            previous = seen.get(label)
            if previous is not None and previous[0] != value:
                issues.append(
                    ImportIssue(
                        level=IssueLevel.warning,
                        file=origin[0],
                        location=origin[1],
                        session_id=session.id,
                        field=label,
                        message=(
                            f"conflicting records of one session: {show(previous[0])} in {previous[1]} "
                            f"vs {show(value)} in {source}; kept {show(value)} (the later record wins)"
                        ),
                    )
                )
            seen[label] = (value, source)
        if session.status in TERMINAL_STATUSES:
            terminal = session.status
        elif session.status:
            other = session.status
        _fill(merged, session.model_dump(exclude={"status_history"}))
        history.extend(session.status_history or ([observation(session, origin)] if session.status else []))
    merged["status"] = terminal or other
    merged["status_history"] = _lifecycle_order(history)
    return ChatKitSession.model_validate(merged)


def _fill(target: dict[str, Any], newer: Mapping[str, Any]) -> None:
    """Later non-null values override; nested objects merge key by key (iterative)."""
    stack: list[tuple[dict[str, Any], Mapping[str, Any]]] = [(target, newer)]
    while stack:
        dst, src = stack.pop()
        for key, value in src.items():
            if value is None:
                continue
            current = dst.get(key)
            if isinstance(value, Mapping) and isinstance(current, dict):
                stack.append((current, value))
            elif isinstance(value, Mapping):
                dst[key] = {}
                stack.append((dst[key], value))
            else:
                dst[key] = value


def _lifecycle_order(history: list[StatusChange]) -> list[StatusChange]:
    """Active observations first, then terminal ones (input order within each); repeats dropped."""
    ordered = sorted(history, key=lambda change: change.status in TERMINAL_STATUSES)
    out: list[StatusChange] = []
    seen: set[tuple[Any, ...]] = set()
    for change in ordered:
        key = (change.status, change.observed_at, change.source)
        if key in seen:
            continue
        seen.add(key)
        if out and out[-1].status == change.status and out[-1].observed_at == change.observed_at:
            continue  # the same state seen again (a re-poll, the same file twice): one observation
        out.append(change)
    return out
