"""The audit log: who did what, to which data set, sent where, with what outcome (free text redacted).

Who: a face that serves a person (the dashboard for a signed-in user, the API for a token) says so
with `acting_as(who)` around the work it does for them; every row written meanwhile in that context
— also by the analyzer, which only knows the face's own name — carries the person. Context variables
follow `asyncio.run` and the tasks it starts, so the analyzer's rows written inside its event loop
see it too.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

from chatkit.domain.secrets import redact_text
from chatkit.store.engine import StoreEngine, now
from chatkit.store.schema import audit_log_table

# Audit rows keep this many ids (and the full count): a 100k-session batch must not make a 5 MB row.
AUDIT_MAX_IDS = 1000
# The most rows one query returns (the Audit page, its CSV): bounded, newest first.
AUDIT_MAX_ROWS = 50_000

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("chatkit_audit_actor", default=None)


@contextmanager
def acting_as(who: str) -> Iterator[None]:
    """Audit rows written in this context name `who` (a signed-in address, `token:<name>`, …)."""
    token = _acting.set(who)
    try:
        yield
    finally:
        _acting.reset(token)


def set_actor(who: str | None) -> None:
    """As `acting_as`, for the rest of this thread's current context: a Streamlit script run, which
    runs in a thread of its own and calls this first (the page's code is not inside a `with`)."""
    _acting.set(who)


def current_actor(default: str) -> str:
    return acting_for() or default


def acting_for() -> str | None:
    """Whom this context acts for (`acting_as`, `set_actor`), or None when it serves no one."""
    return _acting.get()


class AuditLog(StoreEngine):
    def audit(
        self,
        actor: str,
        action: str,
        *,
        session_ids: Sequence[str] = (),
        provider: str = "",
        model: str = "",
        tokens: int = 0,
        outcome: str = "ok",
        detail: str = "",
        dataset_id: str | None = None,
    ) -> None:
        """One row. `actor` is the writer's own name; `acting_as` (the person served) wins over it."""
        ids = list(session_ids)
        row = {
            "at": now(),
            "actor": redact_text(current_actor(actor)),
            "action": action,
            "session_ids": ids[:AUDIT_MAX_IDS],
            "session_count": len(ids),
            "provider": provider,
            "model": model,
            "tokens": int(tokens),
            "outcome": outcome,
            "detail": redact_text(detail),
            "dataset_id": dataset_id,
        }
        with self._write() as conn:
            conn.execute(audit_log_table.insert(), row)

    def audit_log(
        self,
        limit: int = 100,
        *,
        actor: str | None = None,
        actions: Sequence[str] = (),
        dataset_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict]:
        """Newest first, filtered: by who (exact), by action (any of), by data set, by time [since, until)."""
        t = audit_log_table
        query = sa.select(t).order_by(t.c.id.desc()).limit(max(1, min(limit, AUDIT_MAX_ROWS)))
        if actor:
            query = query.where(t.c.actor == actor)
        if actions:
            query = query.where(t.c.action.in_(list(actions)))
        if dataset_id:
            query = query.where(t.c.dataset_id == dataset_id)
        if since is not None:
            query = query.where(t.c.at >= since)
        if until is not None:
            query = query.where(t.c.at < until)
        with self._read() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def audit_actors(self) -> list[str]:
        """Everyone who appears in the log (the Audit page's person filter), sorted."""
        with self._read() as conn:
            return sorted(conn.execute(sa.select(audit_log_table.c.actor).distinct()).scalars())

    def audit_actions(self) -> list[str]:
        with self._read() as conn:
            return sorted(conn.execute(sa.select(audit_log_table.c.action).distinct()).scalars())
