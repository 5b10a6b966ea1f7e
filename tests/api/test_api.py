"""The REST API through FastAPI's TestClient, with the real analyzer talking to the loopback fake LLM."""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from support import FAKE_API_KEY as LLM_KEY
from support import fakellm
from support.fakellm import FAKE_MODEL, FakeLLM

from chatkit import api
from chatkit.api import create_app
from chatkit.domain.sample import SEED_SESSION
from chatkit.settings import Settings
from chatkit.store import Store

API_TOKEN = "admin-token-0123456789-abcdef"
ANALYZE = "/analytics/chatkit/analyze"
BATCH = "/analytics/chatkit/batch"
HEALTH = "/analytics/chatkit/health"
DEV_ORIGIN = "http://localhost:5173"

# What the OpenAI API returns for a ChatKit session (create response), client secret included.
API_SESSION: dict[str, Any] = {
    "id": "cksess_api_1",
    "object": "chatkit.session",
    "status": "expired",
    "expires_at": 1729000600,
    "client_secret": "ek_live_client_secret_value_0123456789",
    "user": "user_42",
    "max_requests_per_1_minute": 10,
    "rate_limits": {"max_requests_per_1_minute": 10},
    "workflow": {"id": "wf_beta", "version": None, "state_variables": None, "tracing": {"enabled": True}},
    "chatkit_configuration": {
        "automatic_thread_titling": {"enabled": True},
        "file_upload": {"enabled": False, "max_file_size": 512, "max_files": 10},
        "history": {"enabled": True, "recent_threads": None},
    },
}

ClientFactory = Callable[..., TestClient]


def _session(session_id: str, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SEED_SESSION), "id": session_id, **changes}


@pytest.fixture
def make_client(tmp_path: Path, llm_settings: Callable[..., Settings]) -> Iterator[ClientFactory]:
    """A TestClient over a fresh app on the fake LLM (no retries); settings overrides as keywords."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = llm_settings(
            **{
                "llm_max_retries": 0,
                "chatkit_data_dir": tmp_path / f"data{len(clients)}",
                "api_rate_limit": "1000/minute",
                **overrides,
            }
        )
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
        client.app.state.store.close()  # type: ignore[attr-defined]


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


def _store(client: TestClient) -> Store:
    return client.app.state.store  # type: ignore[attr-defined]


def _audit(client: TestClient) -> list[dict[str, Any]]:
    """The API's audit rows, oldest first (the analyzer adds rows of its own per LLM call)."""
    return [r for r in reversed(_store(client).audit_log()) if r["action"].startswith("api.")]


# ---------------------------------------------------------------- happy paths


def test_analyze_seed_shape_returns_the_seed_fields_and_the_report(
    client: TestClient, fake_llm: FakeLLM
) -> None:
    response = client.post(ANALYZE, json={"session": SEED_SESSION})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == "cksess_123"
    assert body["metadata"] == {"status": "cancelled", "max_requests": 30, "current_requests": 35}
    assert isinstance(body["analysis"], str) and body["analysis"].strip()
    assert datetime.fromisoformat(body["analyzed_at"]).tzinfo is not None
    assert body["diagnosis"]["category"] == "rate_limited"
    assert body["report"]["session_id"] == "cksess_123"
    assert body["report"]["provider"] != "offline"
    assert body["report"]["model"] == FAKE_MODEL
    assert len(fake_llm.completions) >= 1  # the LLM was really asked
    assert LLM_KEY not in response.text


def test_analyze_api_shape_never_returns_or_sends_the_client_secret(
    client: TestClient, fake_llm: FakeLLM
) -> None:
    response = client.post(ANALYZE, json={"session": API_SESSION})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == "cksess_api_1"
    assert body["metadata"]["status"] == "expired"
    assert body["metadata"]["max_requests"] == 10
    secret = API_SESSION["client_secret"]
    assert secret not in response.text
    assert secret not in fake_llm.all_text()
    assert all(secret not in str(row) for row in _audit(client))


def test_batch_analyzes_valid_sessions_and_lists_rejected_ones(client: TestClient) -> None:
    sessions = [
        _session("cksess_a"),
        _session("cksess_b", status="expired", current_requests=3, reason=None, cancelled_at=None),
        _session("cksess_bad", current_requests=-4),
        None,
    ]

    response = client.post(BATCH, json={"sessions": sessions})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_sessions"] == 4
    assert set(body["analyses"]) == {"cksess_a", "cksess_b"}
    assert all(isinstance(md, str) and md.strip() for md in body["analyses"].values())
    assert isinstance(body["summary"], str) and body["summary"].strip()
    assert datetime.fromisoformat(body["analyzed_at"])
    assert body["failures"] == []
    bad, null = body["import_errors"]
    assert (bad["session_id"], bad["field"], bad["location"]) == (
        "cksess_bad",
        "current_requests",
        "sessions[2]",
    )
    assert (null["location"], null["message"]) == ("sessions[3]", "expected a session object, found null")
    assert body["summary_report"]["total_sessions"] == 2


def test_batch_lists_a_failing_session_and_goes_on(client: TestClient, fake_llm: FakeLLM) -> None:
    # The first batch call fails (retries are off); the probe before it answers well.
    fake_llm.push(fakellm.good_json(), fakellm.server_error())
    sessions = [_session(f"cksess_{i}") for i in range(3)]

    response = client.post(BATCH, json={"sessions": sessions})

    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["failures"]) == 1
    failed = body["failures"][0]["session_id"]
    assert failed in {"cksess_0", "cksess_1", "cksess_2"}
    assert set(body["analyses"]) == {"cksess_0", "cksess_1", "cksess_2"} - {failed}
    assert "Traceback" not in response.text and LLM_KEY not in response.text
    assert _audit(client)[-1]["outcome"] == "partial"


def test_health_names_the_provider_but_never_the_key(client: TestClient) -> None:
    response = client.get(HEALTH)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["service"] == "chatkit_analyzer"
    assert datetime.fromisoformat(body["timestamp"])
    assert body["provider"] == "openai"
    assert body["model"] == FAKE_MODEL
    assert body["auth_required"] is False
    assert LLM_KEY not in response.text


def test_docs_and_openapi_list_the_three_endpoints_under_analytics(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    for path, method in ((ANALYZE, "post"), (BATCH, "post"), (HEALTH, "get")):
        assert schema["paths"][path][method]["tags"] == ["Analytics"]
    assert "429" in schema["paths"][ANALYZE]["post"]["responses"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # Swagger UI's script and style come from this server, never a CDN: /docs works offline.
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', docs.text)
    assert assets and all(url.startswith("/") for url in assets), assets
    for url in assets:
        assert client.get(url).status_code == 200, url


# ---------------------------------------------------------------- validation


def test_invalid_session_is_422_naming_the_field(client: TestClient) -> None:
    response = client.post(ANALYZE, json={"session": _session("cksess_neg", current_requests=-5)})

    assert response.status_code == 422
    body = response.json()
    assert "current_requests" in body["detail"]
    assert "cksess_neg" in body["detail"]
    assert any(e["field"] and "current_requests" in e["field"] for e in body["errors"])
    assert _audit(client)[-1]["outcome"] == "invalid"


def test_count_too_large_for_any_column_is_422_not_500(client: TestClient) -> None:
    # Found by the schemathesis run: 2**70 passed validation and overflowed the frame's Int64 columns.
    response = client.post(
        ANALYZE, json={"session": _session("cksess_huge", max_requests_per_1_minute=2**70)}
    )

    assert response.status_code == 422
    assert "max_requests_per_1_minute" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "session"),
        ({"session": "cksess_123"}, "session"),
        ({"session": None}, "session"),
        ({"sessions": [SEED_SESSION]}, "session"),
        ({"session": {"status": "active"}}, "id"),
    ],
)
def test_request_without_a_session_object_is_422_naming_it(
    client: TestClient, payload: dict[str, Any], field: str
) -> None:
    response = client.post(ANALYZE, json=payload)

    assert response.status_code == 422
    assert f"'{field}'" in response.json()["detail"]


def test_broken_json_is_422_not_500(client: TestClient) -> None:
    response = client.post(
        ANALYZE, content=b'{"session": {"id": ', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


def test_batch_with_no_valid_session_is_422(client: TestClient) -> None:
    response = client.post(BATCH, json={"sessions": [{"id": ""}, _session("cksess_x", ttl_seconds="soon")]})

    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("No valid session in the batch")
    assert len(body["errors"]) >= 2


# ---------------------------------------------------------------- LLM failures


def test_llm_rejecting_its_key_is_401_invalid_api_key(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.push(fakellm.unauthorized())

    response = client.post(ANALYZE, json={"session": SEED_SESSION})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}
    assert _audit(client)[-1]["outcome"] == "llm_auth_error"


def test_llm_rejecting_its_key_in_a_batch_is_401_too(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.push(fakellm.unauthorized())

    response = client.post(BATCH, json={"sessions": [_session(f"cksess_{i}") for i in range(5)]})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}
    assert len(fake_llm.completions) == 1  # the probe; the batch was not attempted
    assert _audit(client)[-1]["outcome"] == "llm_auth_error"


def test_batch_where_every_session_fails_is_500(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.push(*[fakellm.server_error() for _ in range(3)])  # the probe, then both sessions

    response = client.post(BATCH, json={"sessions": [_session("cksess_a"), _session("cksess_b")]})

    assert response.status_code == 500
    assert response.json()["detail"].startswith("Analysis failed: all 2 sessions failed")
    assert LLM_KEY not in response.text


def test_llm_server_error_is_500_without_trace_or_key(client: TestClient, fake_llm: FakeLLM) -> None:
    # A provider that echoes the key in its error message must not make us leak it.
    fake_llm.push(fakellm.error(500, f"upstream exploded while using {LLM_KEY}"))

    response = client.post(ANALYZE, json={"session": SEED_SESSION})

    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("Analysis failed: ")
    assert LLM_KEY not in response.text
    assert "Traceback" not in response.text and 'File "' not in response.text
    row = _audit(client)[-1]
    assert row["outcome"] == "error" and LLM_KEY not in str(row)


def test_unexpected_exception_is_a_safe_500_with_cors(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    analyzer = client.app.state.analyzer  # type: ignore[attr-defined]

    async def explode(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"database password=hunter2 key={LLM_KEY}")

    monkeypatch.setattr(analyzer, "analyze_async", explode)
    with caplog.at_level(logging.ERROR):
        response = client.post(ANALYZE, json={"session": SEED_SESSION}, headers={"Origin": DEV_ORIGIN})

    assert response.status_code == 500
    assert response.json()["detail"] == "Analysis failed: internal error (RuntimeError); see the server log"
    assert response.headers["access-control-allow-origin"] == DEV_ORIGIN
    assert "hunter2" not in response.text and LLM_KEY not in response.text
    assert LLM_KEY not in caplog.text


def test_error_escaping_the_routes_is_still_a_safe_500_with_cors(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_audit(*_: Any, **__: Any) -> None:
        raise RuntimeError(f"audit table gone {LLM_KEY}")

    monkeypatch.setattr(_store(client), "audit", broken_audit)
    response = client.post(ANALYZE, json={"session": SEED_SESSION}, headers={"Origin": DEV_ORIGIN})

    assert response.status_code == 500
    assert response.json()["detail"].startswith("Analysis failed: internal error")
    assert response.headers["access-control-allow-origin"] == DEV_ORIGIN
    assert LLM_KEY not in response.text


# ---------------------------------------------------------------- limits


def test_own_rate_limit_is_429_with_retry_after_and_health_stays_open(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", api_rate_limit="3/minute")

    codes = [client.post(ANALYZE, json={"session": SEED_SESSION}).status_code for _ in range(3)]
    limited = client.post(BATCH, json={"sessions": [SEED_SESSION]}, headers={"Origin": DEV_ORIGIN})

    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["detail"].startswith("Rate limit exceeded")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["access-control-allow-origin"] == DEV_ORIGIN
    assert "Retry-After" in limited.headers["access-control-expose-headers"]
    assert client.get(HEALTH).status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_rate_limit_is_per_client(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", api_rate_limit="1/minute", analytics_api_token=API_TOKEN)
    auth = {"Authorization": f"Bearer {API_TOKEN}"}

    assert client.post(ANALYZE, json={"session": SEED_SESSION}, headers=auth).status_code == 200
    assert client.post(ANALYZE, json={"session": SEED_SESSION}, headers=auth).status_code == 429
    # Without the token the caller is its IP address: another bucket (and then a 401, not a 429).
    assert client.post(ANALYZE, json={"session": SEED_SESSION}).status_code == 401
    # A wrong token shares the IP's bucket, so guessing tokens is limited too.
    wrong = {"Authorization": "Bearer guess"}
    assert client.post(ANALYZE, json={"session": SEED_SESSION}, headers=wrong).status_code == 429


def test_body_over_the_limit_is_413_by_content_length(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", api_max_body_bytes=4096)
    big = _session("cksess_big", reason="x" * 5000)

    response = client.post(ANALYZE, json={"session": big}, headers={"Origin": DEV_ORIGIN})

    assert response.status_code == 413
    assert "4096" in response.json()["detail"]
    assert response.headers["access-control-allow-origin"] == DEV_ORIGIN


def test_streamed_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", api_max_body_bytes=4096)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"session": {"id": "cksess_stream", "reason": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'

    response = client.post(ANALYZE, content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert "4096" in response.json()["detail"]


def test_batch_over_the_session_cap_is_413(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", api_max_batch_sessions=2)

    response = client.post(BATCH, json={"sessions": [_session(f"cksess_{i}") for i in range(3)]})

    assert response.status_code == 413
    assert response.json()["detail"] == "Too many sessions in one batch: 3; the limit is 2"


# ---------------------------------------------------------------- CORS


def test_cors_preflight_from_the_vite_dev_server(client: TestClient) -> None:
    response = client.options(
        ANALYZE,
        headers={
            "Origin": DEV_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == DEV_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]


def test_cors_refuses_an_unlisted_origin(client: TestClient) -> None:
    preflight = client.options(
        ANALYZE, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    simple = client.get(HEALTH, headers={"Origin": "https://evil.example"})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in simple.headers


def test_cors_headers_on_a_422(client: TestClient) -> None:
    response = client.post(
        ANALYZE, json={"session": {"id": 5.5}}, headers={"Origin": "http://localhost:3000"}
    )

    assert response.status_code == 422
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_cors_origins_come_from_settings(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", api_cors_origins=["https://admin.example.com"])

    allowed = client.get(HEALTH, headers={"Origin": "https://admin.example.com"})
    dev = client.get(HEALTH, headers={"Origin": DEV_ORIGIN})

    assert allowed.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert "access-control-allow-origin" not in dev.headers


# ---------------------------------------------------------------- access and audit


def test_bearer_token_is_required_when_configured(make_client: ClientFactory) -> None:
    client = make_client(analytics_api_token=API_TOKEN)

    missing = client.post(ANALYZE, json={"session": SEED_SESSION}, headers={"Origin": DEV_ORIGIN})
    wrong = client.post(BATCH, json={"sessions": [SEED_SESSION]}, headers={"Authorization": "Bearer nope"})
    right = client.post(
        ANALYZE, json={"session": SEED_SESSION}, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    health = client.get(HEALTH)

    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.json() == {"detail": "Missing or invalid bearer token"}
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["access-control-allow-origin"] == DEV_ORIGIN
    assert right.status_code == 200, right.text
    assert health.status_code == 200 and health.json()["auth_required"] is True
    rows = _audit(client)
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows] == [
        ("anonymous", "api.analyze", "denied"),
        ("anonymous", "api.batch", "denied"),
        ("token:default", "api.analyze", "ok"),  # ANALYTICS_API_TOKEN is the admin token `default`
    ]
    assert all(API_TOKEN not in str(r) for r in rows)
    schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"][ANALYZE]["post"]["security"] == [{"HTTPBearer": []}]


def test_named_tokens_carry_their_role_and_their_name_into_the_audit_log(make_client: ClientFactory) -> None:
    viewer, admin = "viewer-token-0123456789abcdef", "admin2-token-0123456789abcdef"
    client = make_client(
        llm_provider="offline",
        analytics_api_tokens={
            "dash": {"token": viewer, "role": "viewer"},
            "ci": {"token": admin, "role": "admin"},
        },
        analytics_api_token=API_TOKEN,  # the legacy one keeps working next to them
    )
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    refused = client.post(ANALYZE, json={"session": SEED_SESSION}, headers=as_viewer)
    refused_batch = client.post(BATCH, json={"sessions": [SEED_SESSION]}, headers=as_viewer)
    ok = client.post(BATCH, json={"sessions": [SEED_SESSION]}, headers={"Authorization": f"Bearer {admin}"})
    legacy = client.post(
        ANALYZE, json={"session": SEED_SESSION}, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )

    assert refused.status_code == 403 and refused_batch.status_code == 403, refused.text
    assert refused.json() == {"detail": "This token's role may not do this"}
    assert ok.status_code == 200 and legacy.status_code == 200
    assert [(r["actor"], r["action"], r["outcome"]) for r in _audit(client)] == [
        ("token:dash", "api.analyze", "refused"),
        ("token:dash", "api.batch", "refused"),
        ("token:ci", "api.batch", "ok"),
        ("token:default", "api.analyze", "ok"),
    ]


def test_the_analyzers_own_rows_name_the_token_that_asked(make_client: ClientFactory) -> None:
    admin = "admin2-token-0123456789abcdef"
    client = make_client(analytics_api_tokens={"ci": {"token": admin, "role": "admin"}})
    auth = {"Authorization": f"Bearer {admin}"}
    assert client.post(ANALYZE, json={"session": SEED_SESSION}, headers=auth).status_code == 200
    rows = list(reversed(_store(client).audit_log()))
    assert [(r["actor"], r["action"]) for r in rows] == [("token:ci", "analyze"), ("token:ci", "api.analyze")]


def test_without_a_token_the_schema_declares_no_security(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()

    assert "securitySchemes" not in schema.get("components", {})
    assert "security" not in schema["paths"][ANALYZE]["post"]


def test_every_analysis_request_is_audited(client: TestClient) -> None:
    client.post(ANALYZE, json={"session": SEED_SESSION})
    client.post(BATCH, json={"sessions": [_session("cksess_a"), _session("cksess_b")]})

    analyze_row, batch_row = _audit(client)
    assert analyze_row["actor"] == "local"
    assert analyze_row["action"] == "api.analyze"
    assert analyze_row["session_ids"] == ["cksess_123"]
    assert analyze_row["provider"] == "openai" and analyze_row["model"] == FAKE_MODEL
    assert analyze_row["tokens"] > 0
    assert analyze_row["outcome"] == "ok"
    assert batch_row["action"] == "api.batch"
    assert sorted(batch_row["session_ids"]) == ["cksess_a", "cksess_b"]
    assert batch_row["tokens"] > analyze_row["tokens"]
    assert batch_row["outcome"] == "ok"


def test_analysis_does_not_block_the_event_loop(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.push(fakellm.good_json(delay_s=1.5))
    slow: dict[str, int] = {}
    worker = threading.Thread(
        target=lambda: slow.update(code=client.post(ANALYZE, json={"session": SEED_SESSION}).status_code)
    )

    worker.start()
    time.sleep(0.3)  # the analysis is now waiting on the LLM
    started = time.perf_counter()
    health = client.get(HEALTH)
    health_s = time.perf_counter() - started
    worker.join()

    assert health.status_code == 200
    assert health_s < 0.5
    assert slow["code"] == 200


# ---------------------------------------------------------------- main()


def test_main_refuses_a_public_address_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    settings = Settings(_env_file=None, llm_provider="offline", chatkit_data_dir=tmp_path)

    with pytest.raises(SystemExit, match="ANALYTICS_API_TOKEN"):
        api.main("0.0.0.0", 8000, settings=settings)


def test_main_warns_on_loopback_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    settings = Settings(_env_file=None, llm_provider="offline", chatkit_data_dir=tmp_path)

    with caplog.at_level(logging.WARNING, logger="chatkit.api"):
        api.main("127.0.0.1", 8123, settings=settings)

    assert calls == [{"host": "127.0.0.1", "port": 8123}]
    assert "ANALYTICS_API_TOKEN is not set" in caplog.text and "127.0.0.1" in caplog.text


def test_main_serves_any_address_with_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    settings = Settings(
        _env_file=None, llm_provider="offline", chatkit_data_dir=tmp_path, analytics_api_token=API_TOKEN
    )

    api.main("0.0.0.0", 8124, settings=settings)

    assert calls == [{"host": "0.0.0.0", "port": 8124}]


def test_with_a_token_the_docs_and_schema_need_it_too(make_client: ClientFactory) -> None:
    client = make_client(llm_provider="offline", analytics_api_token=API_TOKEN)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
        assert client.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200, path
    assert client.get(HEALTH).status_code == 200  # health stays open


def test_on_loopback_only_a_loopback_host_header_is_answered(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, llm_provider="offline", chatkit_data_dir=tmp_path / "data")
    with TestClient(create_app(settings, bind_host="127.0.0.1"), base_url="http://127.0.0.1:8000") as local:
        assert local.get(HEALTH).status_code == 200
        assert local.get(HEALTH, headers={"Host": "localhost:8000"}).status_code == 200
        # DNS rebinding: the browser sends the attacker's name as Host.
        assert local.get(HEALTH, headers={"Host": "evil.example:8000"}).status_code == 400
        local.app.state.store.close()  # type: ignore[attr-defined]
    with TestClient(create_app(settings)) as anywhere:  # not bound to loopback: no host check
        assert anywhere.get(HEALTH).status_code == 200
        anywhere.app.state.store.close()  # type: ignore[attr-defined]
