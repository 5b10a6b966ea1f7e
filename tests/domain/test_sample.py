"""The built-in sample: deterministic, realistic, every category, secrets stripped."""

from __future__ import annotations

import json
from collections import Counter

from support import FIXTURES

from chatkit.domain.models import Category, ChatKitSession
from chatkit.domain.rules import diagnose, diagnose_all
from chatkit.domain.sample import DAY_START, SEED_SESSION, sample_records, sample_sessions


def test_deterministic():
    assert sample_records(200, seed=7) == sample_records(200, seed=7)
    assert sample_records(200, seed=7) != sample_records(200, seed=8)


def test_ids_unique_and_count():
    records = sample_records(5000)
    assert len(records) == 5000
    assert len({r["id"] for r in records}) == 5000
    assert all(r["id"].startswith("cksess_") for r in records)


def test_every_category_and_flag():
    diagnoses = diagnose_all(sample_sessions(300))
    counts = Counter(d.category for d in diagnoses)
    assert set(counts) == set(Category)
    assert all(count >= 10 for count in counts.values()), counts
    flags = Counter(f for d in diagnoses for f in d.flags)
    assert flags["reason_contradicts_numbers"] >= 3
    assert any(d.missing_fields for d in diagnoses if d.category == Category.undetermined)


def test_shapes_are_mixed():
    records = sample_records(300)
    assert any("user" in r and "rate_limits" in r and "chatkit_configuration" in r for r in records)
    assert any("scope" in r and "ttl_seconds" in r and "user" not in r for r in records)
    assert any("scope" in r and "expires_at" in r for r in records)
    assert any(r["workflow"].get("tracing") for r in records)
    json.dumps(records)  # plain JSON export


def test_secrets_are_stripped():
    records = sample_records(300)
    assert sum(1 for r in records if r.get("client_secret")) >= 10
    sessions = sample_sessions(300)
    assert all("client_secret" not in s.model_dump() for s in sessions)
    assert all("ek_" not in s.canonical_json() for s in sessions)


def test_one_day_five_workflows_thirty_customers():
    sessions = sample_sessions(2000)
    created = [s.created_at for s in sessions if s.created_at]
    assert min(created).date() == max(created).date() == DAY_START.date()
    assert len({s.workflow_id for s in sessions}) == 5
    assert len({s.customer_id for s in sessions}) == 30


def test_seed_fixture_file_is_the_seed_session():
    # The CLI and ingest tests read the fixture file; the app, API and selftest use SEED_SESSION.
    fixture = FIXTURES / "seed_session.json"
    assert json.loads(fixture.read_text()) == SEED_SESSION


def test_seed_session_is_the_issue_example_a_rate_limited_cancellation():
    seed = ChatKitSession.model_validate(SEED_SESSION)
    assert (seed.id, seed.workflow_id, seed.customer_id) == ("cksess_123", "workflow_alpha", "cust_456")
    assert diagnose(seed).category == Category.rate_limited
