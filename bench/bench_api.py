"""REST API under load: a real uvicorn on 127.0.0.1 with a temporary store, in two set-ups.

Run: `.venv/bin/python -m bench.bench_api [--clients 8] [--requests 50] [--out FILE]`.

Set-ups: the offline provider (CPU-bound reports), and an LLM provider pointed at the tests' loopback
fake server (tests/fakellm.py) answering after `--llm-latency` seconds (network-bound reports).
Phases, against one server process per set-up:
1. baseline: `/health` alone (sequential), then `/analyze` from one client (sequential);
2. load: `--clients` concurrent clients send `--requests` `/analyze` each, while `/health` is polled;
3. one `/batch`.
Every analyzed session has a fresh id, so nothing is served from a cache. Writes Markdown tables with
the machine description to bench/results/api.md. The figures that matter are the ratios to the
baselines measured in the same run: health latency under load vs alone (does the server keep
answering?), and throughput with N clients vs one. Bounded: a fixed number of requests, a timeout per
request, a deadline per set-up; servers are stopped at the end, whatever happens. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi
import httpx
import uvicorn

from bench.machine import machine
from chatkit.api import CPU_WORKERS, create_app
from chatkit.domain.sample import sample_records
from chatkit.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "api.md"
REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ANALYZE = "/analytics/chatkit/analyze"
BATCH = "/analytics/chatkit/batch"
HEALTH = "/analytics/chatkit/health"
REQUEST_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 30.0
DEADLINE_S = 300.0
HEALTH_POLL_S = 0.05


@dataclass
class Sample:
    """Latencies (s) of one phase, and how the answers went."""

    name: str
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def add(self, started: float, status: int | str) -> None:
        if status == 200:
            self.latencies.append(time.perf_counter() - started)
        else:
            self.failures[str(status)] = self.failures.get(str(status), 0) + 1

    @property
    def count(self) -> int:
        return len(self.latencies) + sum(self.failures.values())

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s else math.nan

    def pct(self, q: float) -> float:
        """Nearest-rank percentile in ms."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))] * 1000


# ---------------------------------------------------------------- the server (a child process)


def serve(port: int, data_dir: Path, llm_url: str | None) -> None:
    llm: dict[str, Any] = {"llm_provider": "offline"}
    if llm_url:
        llm = {
            "llm_provider": "openai",
            "llm_base_url": llm_url,
            "llm_api_key": "sk-bench-not-a-real-key",
            "llm_model": "fake/model-1",
            "llm_max_retries": 0,
            "llm_requests_per_minute": 1_000_000,  # the fake has no quota; the API is measured
        }
    settings = Settings(
        _env_file=None,
        **llm,
        chatkit_data_dir=data_dir,
        api_rate_limit="1000000/minute",  # every client is 127.0.0.1: one bucket; not what is measured
        api_max_batch_sessions=10_000,
        api_max_body_bytes=50_000_000,
    )
    uvicorn.run(create_app(settings), host=HOST, port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(port: int, data_dir: Path, llm_url: str | None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.bench_api", "--serve", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen([*command, "--llm-url", llm_url] if llm_url else command, cwd=REPO)


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the API server exited with code {server.returncode} before answering")
        try:
            if httpx.get(base + HEALTH, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API server did not answer {HEALTH} within {STARTUP_TIMEOUT_S:g} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ---------------------------------------------------------------- the load


class Sessions:
    """Realistic sessions, each handed out once under a fresh id."""

    def __init__(self, n: int) -> None:
        self.pool = sample_records(n)
        self.issued = 0

    def next(self) -> dict[str, Any]:
        record = dict(self.pool[self.issued % len(self.pool)])
        record["id"] = f"cksess_bench_{self.issued}"
        self.issued += 1
        return record


async def timed_request(client: httpx.AsyncClient, sample: Sample, method: str, url: str, **kw: Any) -> None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        sample.add(started, type(exc).__name__)
        return
    sample.add(started, response.status_code)


async def sequential(client: httpx.AsyncClient, sample: Sample, n: int, make: Any) -> Sample:
    started = time.perf_counter()
    for _ in range(n):
        method, url, kw = make()
        await timed_request(client, sample, method, url, **kw)
    sample.wall_s = time.perf_counter() - started
    return sample


async def load(
    client: httpx.AsyncClient, sessions: Sessions, clients: int, per_client: int
) -> tuple[Sample, Sample]:
    analyze = Sample(f"/analyze, {clients} concurrent clients")
    health = Sample("/health during that load")
    done = asyncio.Event()

    async def one_client() -> None:
        for _ in range(per_client):
            await timed_request(client, analyze, "POST", ANALYZE, json={"session": sessions.next()})

    async def poll_health() -> None:
        while not done.is_set():
            await timed_request(client, health, "GET", HEALTH)
            await asyncio.sleep(HEALTH_POLL_S)

    poller = asyncio.create_task(poll_health())
    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    analyze.wall_s = time.perf_counter() - started
    done.set()
    await poller
    health.wall_s = analyze.wall_s
    return analyze, health


async def run(base: str, clients: int, per_client: int, batch_size: int) -> list[Sample]:
    sessions = Sessions(500)
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        # Warm-up: first requests pay for imports and connection set-up.
        await sequential(
            client, Sample("warm-up"), 5, lambda: ("POST", ANALYZE, {"json": {"session": sessions.next()}})
        )
        health_alone = await sequential(client, Sample("/health alone"), 200, lambda: ("GET", HEALTH, {}))
        analyze_one = await sequential(
            client,
            Sample("/analyze, 1 client"),
            per_client,
            lambda: ("POST", ANALYZE, {"json": {"session": sessions.next()}}),
        )
        analyze_many, health_loaded = await load(client, sessions, clients, per_client)
        batch = await sequential(
            client,
            Sample(f"/batch of {batch_size} sessions + summary"),
            1,
            lambda: ("POST", BATCH, {"json": {"sessions": [sessions.next() for _ in range(batch_size)]}}),
        )
    return [health_alone, analyze_one, analyze_many, health_loaded, batch]


# ---------------------------------------------------------------- the report


def machine_lines() -> list[str]:
    info = machine() | {
        "server": f"FastAPI {fastapi.__version__}, uvicorn {uvicorn.__version__} (one worker process)",
        "client": f"httpx {httpx.__version__}, on the same machine as the server",
    }
    return [f"- {k}: {v}" for k, v in info.items()]


def results_table(samples: list[Sample], clients: int) -> list[str]:
    health_alone, analyze_one, analyze_many, health_loaded, batch = samples
    rows = [
        "| phase | requests | ok | failed | req/s | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for s in samples:
        failed = ", ".join(f"{n}× {k}" for k, n in s.failures.items()) or "0"
        rows.append(
            f"| {s.name} | {s.count} | {len(s.latencies)} | {failed} | {s.rate:.1f} | {s.pct(50):.1f} | "
            f"{s.pct(95):.1f} | {s.pct(100):.1f} |"
        )
    return [
        *rows,
        "",
        f"- /health p95 under load ÷ /health p95 alone: "
        f"**{health_loaded.pct(95) / health_alone.pct(95):.1f}×** "
        f"({health_loaded.pct(95):.1f} ms vs {health_alone.pct(95):.1f} ms); "
        f"/health answered {len(health_loaded.latencies)} of {health_loaded.count} polls during the load",
        f"- /analyze throughput with {clients} clients ÷ with 1 client: "
        f"**{analyze_many.rate / analyze_one.rate:.2f}×** ({analyze_many.rate:.1f} vs {analyze_one.rate:.1f} req/s)",
        f"- /analyze p95 with {clients} clients ÷ with 1 client: "
        f"**{analyze_many.pct(95) / analyze_one.pct(95):.1f}×**",
        f"- {batch.name}: {batch.pct(50) / 1000:.2f} s",
    ]


def report(setups: dict[str, list[Sample]], args: argparse.Namespace, started_at: list[str]) -> str:
    sections = []
    for title, samples in setups.items():
        sections += [f"## {title}", "", *results_table(samples, args.clients), ""]
    return "\n".join(
        [
            "# REST API under load",
            "",
            "`python -m bench.bench_api` — a real uvicorn on 127.0.0.1 with a temporary SQLite store; "
            f"{args.clients} concurrent clients × {args.requests} `/analyze` requests while `/health` is "
            f"polled every {HEALTH_POLL_S * 1000:.0f} ms, against baselines measured in the same run. "
            "Each session has a fresh id (no cache hits).",
            "",
            "## Machine",
            "",
            *started_at,
            "",
            *sections,
            "## Reading",
            "",
            "Analyzer coroutines run on one event loop in a worker thread, request validation in at most "
            f"{CPU_WORKERS} worker threads (`chatkit.api.CPU_WORKERS`): the server's own loop stays free "
            "to answer `/health`. Offline reports are CPU work under the GIL, so more clients add "
            "latency, not throughput. LLM reports wait on the network, so concurrent clients overlap "
            "their waits until the analyzer's CPU share per report becomes the limit.",
            "",
        ]
    )


def run_setup(title: str, args: argparse.Namespace, llm_url: str | None, batch_size: int) -> list[Sample]:
    port = free_port()
    base = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="chatkit-bench-api-") as tmp:
        server = start_server(port, Path(tmp), llm_url)
        try:
            wait_ready(base, server)
            print(f"{title}: {base}", file=sys.stderr)
            return asyncio.run(
                asyncio.wait_for(run(base, args.clients, args.requests, batch_size), timeout=DEADLINE_S)
            )
        finally:
            stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--batch", type=int, default=200, help="sessions in the offline /batch request")
    parser.add_argument("--llm-latency", type=float, default=0.2, help="seconds the fake LLM takes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--llm-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.data_dir, args.llm_url)
        return

    sys.path.insert(0, str(REPO / "tests"))
    from fakellm import FakeLLM  # the tests' loopback OpenAI-compatible server

    started_at = machine_lines()
    setups = {"Offline provider": run_setup("offline", args, None, args.batch)}
    with FakeLLM() as fake:
        fake.latency_s = args.llm_latency
        title = f"LLM provider: loopback fake LLM answering in {args.llm_latency * 1000:.0f} ms"
        setups[title] = run_setup("llm", args, fake.base_url, min(args.batch, 50))
    text = report(setups, args, started_at)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
