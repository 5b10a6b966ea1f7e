"""Shared fixtures. Keep each fixture small and documented; add new ones below the existing ones."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Set before anything reads settings, and inherited by every subprocess a test starts: no test reads a
# developer's .env from the working directory.
os.environ["CHATKIT_ENV_FILE"] = ""
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from support import FAKE_API_KEY
from support.fakellm import FakeLLM

from chatkit.store import Store


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A loopback OpenAI-compatible server, scriptable with `fake_llm.push(...)` (see tests/fakellm.py)."""
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm_settings(fake_llm: FakeLLM) -> Callable[..., Any]:
    """Settings pointing at `fake_llm` with a distinctive fake key; keyword arguments override."""
    from chatkit.settings import Settings

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "llm_provider": "openai",
            "llm_api_key": FAKE_API_KEY,
            "llm_base_url": fake_llm.base_url,
            "llm_model": "fake/model-1",
            "llm_timeout_s": 2.0,
            "llm_max_retries": 2,
            "llm_concurrency": 4,
            "llm_requests_per_minute": 1000,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


# ---- stores: SQLite always, PostgreSQL whenever one is reachable ---------------------------------
# PostgreSQL: `CHATKIT_TEST_DATABASE_URL`, else the local server at 127.0.0.1:5432 when it answers
# within 2 s. Each test gets a fresh schema (via the connection's `search_path`), dropped afterwards.

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@functools.cache
def postgres_url() -> tuple[str | None, str]:
    """(url, "") when a PostgreSQL server answers, else (None, why not)."""
    explicit = os.environ.get("CHATKIT_TEST_DATABASE_URL")
    url = explicit or LOCAL_POSTGRES
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        reason = f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {type(exc).__name__}"
        if explicit:
            pytest.fail(f"CHATKIT_TEST_DATABASE_URL is set but {reason}")
        return None, reason
    finally:
        engine.dispose()
    return url, ""


@functools.cache
def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)


def fresh_postgres_url() -> Iterator[str]:
    """A URL whose connections see only a new, empty schema (dropped when the test ends)."""
    url, reason = postgres_url()
    if url is None:
        pytest.skip(reason)
    schema = f"chatkit_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'chatkit.db'}"
    else:
        yield from fresh_postgres_url()


@pytest.fixture
def postgres_store_url() -> Iterator[str]:
    yield from fresh_postgres_url()


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[..., Store]]:
    """Opens Stores on the test's URL and closes them all at the end (before the schema drops)."""
    opened: list[Store] = []

    def open_(**kwargs: float) -> Store:
        opened.append(Store(store_url, **kwargs))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., Store]) -> Store:
    return open_store()
