"""The analyses cache: one LLM (or offline) report per cache key, with the tokens it cost."""

from __future__ import annotations

import sqlalchemy as sa

from chatkit.domain.secrets import assert_secret_free
from chatkit.store.engine import StoreEngine, now
from chatkit.store.schema import analyses


class AnalysesCache(StoreEngine):
    def get_analysis(self, key: str) -> dict | None:
        """The cached report dict (as given to put_analysis), or None."""
        with self._read() as conn:
            return conn.execute(sa.select(analyses.c.report).where(analyses.c.key == key)).scalar()

    def put_analysis(
        self, key: str, session_id: str, provider: str, model: str, report: dict, usage: dict
    ) -> None:
        """Insert or replace (an "Analyze again" result supersedes the cached one); safe under races."""
        assert_secret_free(report, "an analysis report")
        row = {
            "key": key,
            "session_id": session_id,
            "provider": provider,
            "model": model,
            "report": report,
            "prompt_tokens": int(usage.get("prompt_tokens", 0) or 0),
            "completion_tokens": int(usage.get("completion_tokens", 0) or 0),
            "total_tokens": int(usage.get("total_tokens", 0) or 0),
            "created_at": now(),
        }
        with self._write() as conn:
            self._upsert(conn, analyses, row, "key")

    def cache_stats(self) -> dict:
        with self._read() as conn:
            entries, tokens = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(analyses.c.total_tokens), 0))
            ).one()
        return {"entries": int(entries), "tokens": int(tokens)}
