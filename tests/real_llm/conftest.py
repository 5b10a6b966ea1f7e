"""The real-model tier: llama.cpp serving the 0.5B Qwen model on a loopback port, once per test run.

Selected with `-m real_llm` (or CHATKIT_REAL_LLM=1; `make test-llm`); otherwise its tests are
deselected and the run says so in its summary. Once selected it never skips: a model that cannot be
fetched, or a runtime that is missing, fails the tier with the reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from chatkit.llm.local import (
    XLLAMACPP_REQUIREMENT,
    LocalLLMError,
    LocalServer,
    fetch_model,
    runtime_available,
)
from chatkit.settings import Settings

TIER = "real_llm"


def _selected(config: pytest.Config) -> bool:
    return TIER in (config.getoption("markexpr") or "") or os.environ.get("CHATKIT_REAL_LLM") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    tier = [item for item in items if item.get_closest_marker(TIER)]
    if tier:
        config.hook.pytest_deselected(items=tier)
        items[:] = [item for item in items if not item.get_closest_marker(TIER)]
        config.stash[_DESELECTED] = len(tier)


_DESELECTED = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if count := config.stash.get(_DESELECTED, 0):
        terminalreporter.write_line(
            f"real-model tier: {count} test(s) in tests/real_llm not selected; run them with "
            "`make test-llm` or `pytest -m real_llm`"
        )


@pytest.fixture(scope="session")
def local_llm() -> Iterator[LocalServer]:
    """The 0.5B model (fetched once into the model cache, verified) served on a free loopback port."""
    settings = Settings(_env_file=None)
    if not runtime_available():
        pytest.fail(
            f"real-model tier: the local runtime is missing; install it with pip install {XLLAMACPP_REQUIREMENT}"
        )
    started = time.monotonic()
    try:
        path = fetch_model("qwen2.5-coder-0.5b", settings.chatkit_model_dir, log=print)
    except LocalLLMError as exc:
        pytest.fail(f"real-model tier: the model could not be fetched: {exc}")
    server = LocalServer(path, model="qwen2.5-coder-0.5b", threads=settings.local_llm_threads)
    try:
        server.start(timeout_s=300)
    except LocalLLMError as exc:
        pytest.fail(f"real-model tier: the local server did not start: {exc}")
    print(
        f"real-model tier: model ready and served in {time.monotonic() - started:.1f} s at {server.base_url}"
    )
    try:
        yield server
    finally:
        server.stop()
