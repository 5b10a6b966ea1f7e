"""One LLM runtime per process: the request budget holds for every caller, and across processes on a store.

Each test caps the fake server's traffic at K requests per WINDOW_S and counts what arrives there in
any WINDOW_S (without a shared budget, everything arrives at once).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from support import FAKE_API_KEY

import chatkit
from chatkit.reports.analyzer import ChatKitAnalyzer
from chatkit.store import Store

K = 2
WINDOW_S = 1.5


def session(i: int, prefix: str = "cksess_rt") -> dict:
    return {
        "id": f"{prefix}{i:04d}",
        "status": "cancelled",
        "workflow": {"id": "wf_rt", "version": "1"},
        "max_requests_per_1_minute": 30,
        "current_requests": 35,
        "reason": "rate limit",
    }


def test_the_runtime_is_one_loop_for_every_thread():
    from chatkit.llm.runtime import get_runtime

    loops: list[asyncio.AbstractEventLoop] = []

    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    threads = [threading.Thread(target=lambda: loops.append(get_runtime().run(which()))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loops) == 4 and len(set(map(id, loops))) == 1
    assert asyncio.run(get_runtime().call(which())) is loops[0]  # from another loop, too


def test_threads_calling_analyze_at_once_share_one_budget(fake_llm, llm_settings):
    """Dashboard sessions (script threads) each with an analyzer: together they stay under K per window."""
    settings = llm_settings(llm_requests_per_minute=K, llm_rate_window_s=WINDOW_S)
    reports: list = []

    def one(i: int) -> None:
        reports.append(ChatKitAnalyzer(settings).analyze(session(i)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(reports) == 5 and all(r.structured for r in reports)
    assert len(fake_llm.completions) == 5
    assert fake_llm.most_in_any_window(WINDOW_S) <= K
    assert time.monotonic() - started >= 2 * WINDOW_S  # 5 requests need three windows


def test_one_analyzer_batch_and_single_calls_share_the_concurrency_cap(fake_llm, llm_settings):
    """A batch and a single analysis from another thread: LLM_CONCURRENCY holds for both together."""
    fake_llm.latency_s = 0.2
    settings = llm_settings(llm_concurrency=2)
    batch = threading.Thread(
        target=lambda: ChatKitAnalyzer(settings).analyze_batch([session(i) for i in range(6)])
    )
    batch.start()
    singles = [
        threading.Thread(target=ChatKitAnalyzer(settings).analyze, args=(session(i, "cksess_one"),))
        for i in range(3)
    ]
    for t in singles:
        t.start()
    for t in [batch, *singles]:
        t.join(timeout=60)
    assert len(fake_llm.completions) == 9
    assert fake_llm.max_in_flight == 2


CHILD = textwrap.dedent(
    """
    import pathlib
    import sys
    import time

    from chatkit.reports.analyzer import ChatKitAnalyzer
    from chatkit.settings import Settings
    from chatkit.store import Store

    url, base_url, key, prefix, k, window, sync_dir = sys.argv[1:]
    settings = Settings(
        _env_file=None, llm_provider="openai", llm_api_key=key, llm_base_url=base_url,
        llm_model="fake/model-1", llm_timeout_s=10, llm_max_retries=0, llm_concurrency=4,
        llm_requests_per_minute=int(k), llm_rate_window_s=float(window),
    )
    sessions = [
        {"id": f"{prefix}{i}", "status": "cancelled", "max_requests_per_1_minute": 30,
         "current_requests": 35, "reason": "rate limit"}
        for i in range(4)
    ]
    analyzer = ChatKitAnalyzer(settings, store=Store(url))
    # Pay the slow imports (pandas for the what-if quotes, openai) before the start signal.
    import openai  # noqa: F401
    from chatkit.analytics.frame import sessions_frame
    from chatkit.analytics.whatif import prevention_quotes
    from chatkit.domain.models import ChatKitSession
    from chatkit.domain.rules import diagnose_all

    warm = [ChatKitSession.model_validate(sessions[0])]
    prevention_quotes(sessions_frame(warm, diagnose_all(warm)))
    # Start together: the processes must compete for the budget, not run one after the other.
    sync = pathlib.Path(sync_dir)
    (sync / prefix).touch()
    while not (sync / "go").exists():
        time.sleep(0.01)
    reports = analyzer.analyze_batch(sessions)
    assert all(r.structured for r in reports), [r.error for r in reports]
    """
)


def run_two_processes(url: str, base_url: str, sync: Path) -> None:
    """Two processes, each analysing 4 sessions on `url`, started at the same moment."""
    Store(url).close()  # the schema exists before both start
    common = [url, base_url, FAKE_API_KEY]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *common, f"cksess_p{n}_", str(K), str(WINDOW_S), str(sync)],
            env={"PYTHONPATH": str(Path(chatkit.__file__).parents[1]), "PATH": "/usr/bin:/bin"},
            cwd=sync,  # not the repository: `python -c` puts the cwd first on sys.path
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    deadline = time.monotonic() + 120
    while not all((sync / f"cksess_p{n}_").exists() for n in range(2)):
        assert time.monotonic() < deadline, "the children did not get ready"
        assert all(c.poll() is None for c in children), [c.communicate()[1][-2000:] for c in children]
        time.sleep(0.05)
    (sync / "go").touch()
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]


def test_two_processes_on_one_sqlite_store_share_one_budget(fake_llm, tmp_path):
    run_two_processes(f"sqlite:///{tmp_path / 'data' / 'chatkit.db'}", fake_llm.base_url, tmp_path)
    assert len(fake_llm.completions) == 8
    assert fake_llm.most_in_any_window(WINDOW_S) <= K


@pytest.mark.postgres
def test_two_processes_on_one_postgres_store_share_one_budget(fake_llm, postgres_store_url, tmp_path):
    run_two_processes(postgres_store_url, fake_llm.base_url, tmp_path)
    assert len(fake_llm.completions) == 8
    assert fake_llm.most_in_any_window(WINDOW_S) <= K
