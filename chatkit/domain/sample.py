"""A realistic, deterministic sample data set: a day of ChatKit sessions across workflows and customers.

Records mix the shape the OpenAI API returns (`user`, `expires_at`, `rate_limits`,
`chatkit_configuration`, `workflow.tracing`, `client_secret`) with the seed's enriched shape
(`scope.customer_id`, `current_requests`, `ttl_seconds`, `created_at`, `cancelled_at`, `reason`), and
cover every diagnosis category, including undetermined sessions and reasons that contradict the numbers.
Same `n` and `seed` give the same records; nothing reads the clock.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from chatkit.domain.models import ChatKitSession

# The seed's own example session (its enriched shape): the placeholder on the Import page, the REST API's
# documented example and `selftest`'s analysis. Shared: copy it before changing anything in it.
SEED_SESSION: dict[str, Any] = {
    "id": "cksess_123",
    "object": "chatkit.session",
    "workflow": {"id": "workflow_alpha", "version": "1"},
    "scope": {"customer_id": "cust_456"},
    "max_requests_per_1_minute": 30,
    "current_requests": 35,
    "ttl_seconds": 900,
    "status": "cancelled",
    "cancelled_at": 1712345678,
    "reason": "Rate limit exceeded",
}

DAY_START = datetime(2025, 3, 14, tzinfo=UTC)
_DAY_START_S = int(DAY_START.timestamp())

# (workflow id, version, per-minute limit, TTL s). gamma's 900 s TTL is outside the API's 1-600 s on purpose.
WORKFLOWS: list[tuple[str, str | None, int, int]] = [
    ("workflow_alpha", "2025-03-01", 30, 600),
    ("workflow_beta", "2025-02-11", 10, 300),
    ("workflow_gamma", None, 60, 900),
    ("workflow_delta", "2025-01-20", 20, 600),
    ("workflow_epsilon", "3", 15, 120),
]
_WORKFLOW_WEIGHTS = [35, 25, 15, 15, 10]
CUSTOMERS = [f"cust_{i:03d}" for i in range(1, 31)]

# Scenario -> weight; each scenario produces one kind of session the diagnostics must recognise.
_SCENARIOS = {
    "active": 22,
    "rate_limited": 22,
    "rate_limited_reason_only": 4,
    "ttl_expired_status": 10,
    "ttl_cancelled": 10,
    "manual": 14,
    "undetermined_api_only": 6,
    "undetermined_no_reason": 4,
    "contradict_rate_reason": 4,
    "contradict_manual_reason": 2,
    "limit_zero": 1,
}
_RATE_REASONS = ["Rate limit exceeded", "429 Too Many Requests", "rate_limit_exceeded", None]
_TTL_REASONS = ["Session expired", "TTL reached", "timeout", None]
_MANUAL_REASONS = [
    "Cancelled by admin",
    "User closed the chat",
    "manual cancellation by support agent",
    "cancelled by user",
    "Closed by operator",
]
# Busier during working hours (UTC): relative weight per hour of the day.
_HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1]


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")


def sample_records(n: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """`n` raw export dicts, as they would sit in a JSON file (secrets included, to be stripped)."""
    rng = random.Random(seed)
    scenarios = rng.choices(list(_SCENARIOS), weights=list(_SCENARIOS.values()), k=n)
    workflows = rng.choices(WORKFLOWS, weights=_WORKFLOW_WEIGHTS, k=n)
    hours = rng.choices(range(24), weights=_HOUR_WEIGHTS, k=n)
    records = []
    for i in range(n):
        wf_id, version, limit, ttl = workflows[i]
        scenario = scenarios[i]
        # A few customers produce most sessions (Pareto), with a uniform share so every customer appears.
        rank = int((rng.paretovariate(1.2) - 1) * 4) if i % 3 else rng.randrange(len(CUSTOMERS))
        customer = CUSTOMERS[rank % len(CUSTOMERS)]
        created = _DAY_START_S + hours[i] * 3600 + rng.randrange(3600)
        # api: what the API returns (plus a usage counter from logs); seed: the enriched shape; mixed: both.
        shape = "api" if scenario.startswith("undetermined_api") else rng.choice(("api", "seed", "mixed"))
        # Within the limit unless the scenario says otherwise; None where the scenario has no count.
        requests: int | None = rng.randrange(0, max(1, limit))
        status = "cancelled"
        end: float | None = created + rng.randrange(20, max(21, ttl - 5))
        reason: str | None = None

        if scenario == "active":
            status, end = "active", None
            requests = rng.randrange(0, limit + 1)
        elif scenario == "rate_limited":
            # Mostly a little over; one in five far over (critical).
            over = (
                rng.randrange(1, max(2, limit // 4))
                if rng.random() < 0.8
                else limit // 2 + rng.randrange(1, limit)
            )
            requests = limit + over
            reason = rng.choice(_RATE_REASONS)
        elif scenario == "rate_limited_reason_only":
            requests = None
            reason = rng.choice(_RATE_REASONS[:3])
        elif scenario == "ttl_expired_status":
            status, end = "expired", created + ttl
        elif scenario == "ttl_cancelled":
            end = created + ttl + rng.randrange(0, 40)
            reason = rng.choice(_TTL_REASONS)
        elif scenario == "manual":
            reason = rng.choice(_MANUAL_REASONS)
        elif scenario == "undetermined_api_only":
            requests, end = None, None
        elif scenario == "undetermined_no_reason":
            end = None  # cancelled, within the limit, but no cancel time and no reason
        elif scenario == "contradict_rate_reason":
            requests = max(0, limit - rng.randrange(1, 4))
            reason = "Rate limit exceeded"
            if rng.random() < 0.5:
                end = created + ttl + rng.randrange(0, 30)  # the TTL explains it instead
        elif scenario == "contradict_manual_reason":
            requests = limit + rng.randrange(2, 8)
            reason = "Cancelled by admin"
        elif scenario == "limit_zero":
            limit, requests = 0, rng.randrange(1, 6)
            reason = rng.choice(_RATE_REASONS)

        record: dict[str, Any] = {
            "id": f"cksess_{i:06x}{rng.getrandbits(40):010x}",
            "object": "chatkit.session",
        }
        record["status"] = status
        workflow: dict[str, Any] = {"id": wf_id, "version": version}
        if shape == "seed":
            record["workflow"] = workflow
            record["scope"] = {"customer_id": customer}
            record["max_requests_per_1_minute"] = limit
            record["ttl_seconds"] = ttl
            record["created_at"] = _iso(created)
        else:
            workflow["state_variables"] = None
            workflow["tracing"] = {"enabled": rng.random() < 0.7}
            record["workflow"] = workflow
            record["user"] = customer
            record["max_requests_per_1_minute"] = limit
            record["rate_limits"] = {"max_requests_per_1_minute": limit}
            record["expires_at"] = created + ttl
            # Cancel responses carry an empty secret; create responses a real-looking one.
            record["client_secret"] = "" if status == "cancelled" else f"ek_{rng.getrandbits(96):024x}"
            record["chatkit_configuration"] = {
                "automatic_thread_titling": {"enabled": True},
                "file_upload": {"enabled": rng.random() < 0.5, "max_file_size": 512, "max_files": 10},
                "history": {"enabled": True, "recent_threads": None},
            }
            if shape == "mixed":
                record["scope"] = {"customer_id": customer}
                record["created_at"] = created  # backend logs often store epoch seconds
            elif scenario != "undetermined_api_only":
                record["created_at"] = created * 1000  # ... or epoch milliseconds
        if requests is not None:
            record["current_requests"] = requests
        if status == "cancelled" and end is not None:
            record["cancelled_at"] = _iso(end) if shape == "seed" else end
        if reason is not None:
            record["reason"] = reason
        records.append(record)
    return records


def sample_sessions(n: int = 300, seed: int = 7) -> list[ChatKitSession]:
    """The sample records validated into sessions (secrets stripped by the model)."""
    records = sample_records(n, seed)
    return [ChatKitSession.model_validate(r) for r in records]
