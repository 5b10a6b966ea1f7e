"""A real OIDC provider and a Streamlit app that signs in against it, both on 127.0.0.1.

`oidc_provider` runs the `oidc-provider-mock` package (`python -m oidc_provider_mock`) on a free
port with predefined users; its authorization page offers one button per user (the user's `sub`),
so a test "signs in as alice@example.com" by clicking that button. Any client id / secret is
accepted (no registration), and its discovery document names endpoints on the address it was
asked for. `signin_app(app_file, **env)` starts `streamlit run` with a `secrets.toml` whose `[auth]`
points at that provider (redirect_uri on the app's own loopback port). Part 2 points the same
fixtures at the real dashboard's app.py.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HARNESS = Path(__file__).parent

# Who the provider knows. Claims beyond `sub` are what an identity provider would send.
USERS = {
    "alice@example.com": {"email": "alice@example.com", "email_verified": True, "name": "Alice Viewer"},
    "bob@example.com": {
        "email": "bob@example.com",
        "email_verified": True,
        "name": "Bob Admin",
        "groups": ["staff", "chatkit-admins"],
    },
    "eve@evil-example.com": {"email": "eve@evil-example.com", "email_verified": True, "name": "Eve Outsider"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[2]} exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (no browser downloads here)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _clean_env(**extra: str) -> dict[str, str]:
    """No LLM key, no store, no auth setting of the machine's leaks into the servers."""
    prefixes = ("LLM_", "CHATKIT_", "AUTH_", "DASHBOARD_", "ANALYTICS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **extra)
    return env


@dataclass(frozen=True)
class Provider:
    url: str

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = free_port()
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    users = [json.dumps({"sub": sub, **claims}) for sub, claims in USERS.items()]
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in users:
        args += ["--user-claims", user]
    # The mock runs Werkzeug's debugger (its own choice): it must never listen beyond loopback.
    process = subprocess.Popen(
        args, env=_clean_env(NO_COLOR="1"), stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    provider = Provider(f"http://127.0.0.1:{port}")
    try:
        _wait_for(provider.metadata_url, process, log)
        yield provider
    finally:
        _stop(process)


@dataclass
class App:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def signin_app(oidc_provider: Provider, tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Starts `streamlit run <app_file>` with [auth] for `oidc_provider`; `env` adds settings."""
    started: list[App] = []

    def start(app_file: Path = HARNESS / "signin_app.py", **env: str) -> App:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        secrets_file = tmp_path / f"secrets-{port}.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "{url}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
            'client_id = "chatkit-dashboard"\n'
            f'client_secret = "{secrets.token_urlsafe(24)}"\n'
            f'server_metadata_url = "{oidc_provider.metadata_url}"\n'
        )
        log = tmp_path / f"streamlit-{port}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app_file),
                "--server.headless=true",
                "--server.address=127.0.0.1",
                f"--server.port={port}",
                "--browser.gatherUsageStats=false",
                "--server.fileWatcherType=none",
                f"--secrets.files={secrets_file}",
            ],
            cwd=tmp_path,  # no .streamlit/ of the repository or of the machine's home is read
            env=_clean_env(CHATKIT_DATA_DIR=str(tmp_path / "data"), LLM_PROVIDER="offline", **env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        app = App(url, log, process)
        started.append(app)
        _wait_for(f"{url}/_stcore/health", process, log)
        return app

    try:
        yield start
    finally:
        for app in started:
            _stop(app.process)
