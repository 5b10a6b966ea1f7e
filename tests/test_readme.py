"""The README's Python example runs as written (offline, from the repository root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support import ROOT


def test_the_readme_python_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Python\n\n```python\n(.*?)```", readme, re.S)
    assert block, "README has no Python example"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "CHATKIT_"))}
    env.update({"CHATKIT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)})
    result = subprocess.run(
        [sys.executable, "-c", block.group(1)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "### Root cause" in result.stdout and "rate_limited" in result.stdout
