"""chatkit.services: the one place that builds the store, analyzer and worker, used by every face."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import ROOT

from chatkit import cli, services
from chatkit.api import create_app
from chatkit.reports.analyzer import MemoryCache
from chatkit.settings import Settings
from chatkit.store import Store


def offline(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, llm_provider="offline", chatkit_data_dir=tmp_path / "data", **values)


def test_build_opens_the_settings_store_and_an_analyzer_that_caches_and_audits_in_it(tmp_path: Path) -> None:
    built = services.build(offline(tmp_path), actor="someone")
    try:
        assert isinstance(built.store, Store)
        assert built.store.url == offline(tmp_path).database_url
        assert built.analyzer.store is built.store and built.analyzer.cache is built.store
        assert built.analyzer.actor == "someone"
        assert built.worker is None  # started only by a face that runs jobs
    finally:
        built.close()


def test_without_persistence_there_is_no_store_and_reports_stay_in_memory(tmp_path: Path) -> None:
    built = services.build(offline(tmp_path), actor="cli", persist=False)

    assert built.store is None
    assert isinstance(built.analyzer.cache, MemoryCache)
    assert not (tmp_path / "data").exists()
    with pytest.raises(RuntimeError, match="without a store"):
        built.require_store()


def test_the_worker_starts_once_and_close_stops_it(tmp_path: Path) -> None:
    built = services.build(offline(tmp_path), actor="dashboard")
    worker = built.start_worker()

    assert built.start_worker() is worker and worker.alive
    built.close()
    assert not worker.alive and built.worker is None


def test_a_given_store_is_used_and_left_open(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'given.db'}")
    built = services.build(offline(tmp_path), actor="api", store=store)
    built.close()

    assert built.store is store
    assert store.list_datasets() == []  # still usable: the caller owns it
    store.close()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actors services.build was called for."""
    actors: list[str] = []
    original = services.build

    def counted(settings: Settings, **kwargs: Any) -> services.Services:
        actors.append(kwargs["actor"])
        return original(settings, **kwargs)

    monkeypatch.setattr(services, "build", counted)
    return actors


def test_the_api_is_built_through_services(tmp_path: Path, builds: list[str]) -> None:
    app = create_app(offline(tmp_path))
    with TestClient(app) as client:
        assert client.get("/analytics/chatkit/health").status_code == 200
    app.state.store.close()

    assert builds == ["api"]


def test_the_command_line_is_built_through_services(
    tmp_path: Path, builds: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    monkeypatch.setenv("CHATKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    assert cli.main(["analyze", str(ROOT / "tests" / "fixtures" / "seed_session.json")]) == 0
    assert builds == ["cli"]
    capsys.readouterr()


def test_no_face_wires_a_store_or_an_analyzer_itself() -> None:
    """Faces get their store and analyzer from chatkit.services, never by constructing them."""
    package = ROOT / "chatkit"
    faces = [
        *package.joinpath("web").rglob("*.py"),
        *package.joinpath("api").rglob("*.py"),
        package / "cli.py",
    ]
    wiring = re.compile(r"ChatKitAnalyzer\(|Store\.from_settings\(|Store\(|BackgroundWorker\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in faces
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wiring.search(line)
    ]
    assert offenders == []
