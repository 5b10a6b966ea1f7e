""".streamlit/config.toml: loopback by default, no traceback ever reaches a visitor, and no table
leaves by Streamlit's toolbar (unaudited)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import streamlit.config
from streamlit.testing.v1 import AppTest
from support import ROOT

CONFIG = ROOT / ".streamlit" / "config.toml"


def test_the_dashboard_listens_on_loopback_and_hides_error_details() -> None:
    config = tomllib.loads(CONFIG.read_text())
    assert config["server"]["address"] == "127.0.0.1"
    # "none", not the deprecated false, which Streamlit reads as "stacktrace".
    assert config["client"]["showErrorDetails"] == "none"
    # No table toolbar download or copy: a table leaves only by its own button, which is audited.
    assert config["client"]["disableDataExport"] is True


def test_streamlit_reads_those_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    streamlit.config.get_config_options(force_reparse=True)
    assert streamlit.config.get_option("server.address") == "127.0.0.1"
    assert streamlit.config.get_option("client.showErrorDetails") == "none"
    assert streamlit.config.get_option("client.disableDataExport") is True


def test_an_uncaught_error_shows_a_generic_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text('raise RuntimeError("detail from /srv/private.py with sk-test-SECRET-123")\n')
    monkeypatch.chdir(ROOT)
    streamlit.config.get_config_options(force_reparse=True)
    at = AppTest.from_file(str(script)).run()
    (error,) = at.exception
    assert "redacted" in error.message
    assert not error.stack_trace and not error.proto.type
    assert "SECRET" not in repr(error.proto) and "private.py" not in repr(error.proto)
