"""The package installs from a wheel into a fresh virtual environment and works from any directory.

No network: the wheel is built with the build backend already in the test venv, and the fresh venv
borrows the test venv's installed dependencies through a plain path entry (which does not activate
this checkout's editable install), so what is imported is the wheel's copy of chatkit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from support import FIXTURES, ROOT


def _run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("LLM_", "CHATKIT_"))
    }
    env["CHATKIT_DATA_DIR"] = str(cwd / "data")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the package installed from a freshly built wheel; returns its bin folder."""
    base = tmp_path_factory.mktemp("install")
    # Build from a copy: an in-tree build leaves build/ behind, whose stale files a later wheel would pack.
    source = base / "source"
    shutil.copytree(ROOT / "chatkit", source / "chatkit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheel_args = ["wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(base), str(source)]
    build = _run([sys.executable, "-m", "pip", *wheel_args], cwd=base)
    assert build.returncode == 0, build.stderr
    (wheel,) = base.glob("chatkit_session_analytics-*.whl")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    site = next(env_dir.glob("lib/python*/site-packages"))
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=base,
    )
    assert install.returncode == 0, install.stderr
    return env_dir / "bin"


def test_the_wheel_carries_the_package_and_its_typing_marker(installed: Path, tmp_path: Path) -> None:
    probe = _run(
        [
            str(installed / "python"),
            "-c",
            "import chatkit, pathlib; p = pathlib.Path(chatkit.__file__).parent;"
            " print(p); print((p / 'py.typed').exists()); print(sorted(chatkit.__all__))",
        ],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    where, typed, exported = probe.stdout.splitlines()
    assert Path(where).is_relative_to(installed.parent), f"imported {where}, not the installed wheel"
    assert typed == "True"
    for name in ("ChatKitAnalyzer", "import_paths", "import_files", "diagnose", "Settings", "Store"):
        assert name in exported


def test_the_chatkit_command_is_python_m_chatkit(installed: Path, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "seed_session.json", tmp_path / "seed.json")
    usage = _run([str(installed / "chatkit"), "--help"], cwd=tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert "usage: chatkit" in usage.stdout and "analyze" in usage.stdout
    command = _run([str(installed / "chatkit"), "analyze", "seed.json"], cwd=tmp_path)
    module = _run([str(installed / "python"), "-m", "chatkit", "analyze", "seed.json"], cwd=tmp_path)
    assert command.returncode == module.returncode == 0, command.stderr + module.stderr
    assert "Root cause" in command.stdout and command.stdout == module.stdout


def test_the_readme_python_example_runs_from_any_directory(installed: Path, tmp_path: Path) -> None:
    block = re.search(r"## Python\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README has no Python example"
    # The example reads the repository's fixtures by relative path: give the directory copies of them.
    shutil.copytree(FIXTURES, tmp_path / "tests" / "fixtures")
    result = _run([str(installed / "python"), "-c", block.group(1)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "### Root cause" in result.stdout and "rate_limited" in result.stdout and "sessions;" in result.stdout
    )
