"""The tree shows the architecture: the import contracts hold and modules stay readable in size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support import ROOT

MAX_LINES = 500


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def test_no_module_grows_past_500_lines_without_saying_why() -> None:
    too_long = []
    for path in sorted((ROOT / "chatkit").rglob("*.py")):
        text = path.read_text()
        if (
            text.count("\n") > MAX_LINES
            and "one module" not in (ast.get_docstring(ast.parse(text)) or "").lower()
        ):
            too_long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not too_long, "split these, or say in the module docstring why each is one module: " + ", ".join(
        too_long
    )
