"""The audit log: who sent which sessions where, with what outcome (free text redacted)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from chatkit.domain.secrets import redact_text
from chatkit.store.engine import StoreEngine, now
from chatkit.store.schema import audit_log_table

# Audit rows keep this many ids (and the full count): a 100k-session batch must not make a 5 MB row.
AUDIT_MAX_IDS = 1000


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
    ) -> None:
        ids = list(session_ids)
        row = {
            "at": now(),
            "actor": redact_text(actor),
            "action": action,
            "session_ids": ids[:AUDIT_MAX_IDS],
            "session_count": len(ids),
            "provider": provider,
            "model": model,
            "tokens": int(tokens),
            "outcome": outcome,
            "detail": redact_text(detail),
        }
        with self._write() as conn:
            conn.execute(audit_log_table.insert(), row)

    def audit_log(self, limit: int = 100) -> list[dict]:
        """Newest first."""
        query = sa.select(audit_log_table).order_by(audit_log_table.c.id.desc()).limit(limit)
        with self._read() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
