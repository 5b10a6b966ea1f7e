"""chatkit.domain.lifecycle on plain sessions (the import-level rules are in tests/ingest)."""

from __future__ import annotations

from chatkit.domain.lifecycle import merge_lifecycle
from chatkit.domain.models import ChatKitSession


def test_merge_lifecycle_on_its_own() -> None:
    sessions = [
        ChatKitSession.model_validate({"id": "a", "status": "active"}),
        ChatKitSession.model_validate({"id": "b", "status": "expired"}),
        ChatKitSession.model_validate({"id": "a", "status": "expired", "expires_at": 1712345678}),
    ]
    merged, issues = merge_lifecycle(sessions)
    assert [(s.id, s.status) for s in merged] == [("a", "expired"), ("b", "expired")]
    assert issues == []
    assert [c.source for c in merged[0].status_history] == ["data set:record 1", "data set:record 3"]
    assert sessions[1].status_history == []  # the caller's objects are not changed


def test_conflicting_sessions_warn_with_both_sources_and_no_origins_needed() -> None:
    sessions = [
        ChatKitSession.model_validate({"id": "a", "status": "cancelled", "user": "u1"}),
        ChatKitSession.model_validate({"id": "a", "status": "expired", "user": "u2"}),
    ]
    merged, issues = merge_lifecycle(sessions)
    assert [(s.status, s.user) for s in merged] == [("expired", "u2")]
    assert [(i.field, i.location) for i in issues] == [("status", "record 2"), ("user", "record 2")]
    assert issues[1].message == (
        "conflicting records of one session: 'u1' in data set:record 1 vs 'u2' in data set:record 2; "
        "kept 'u2' (the later record wins)"
    )
