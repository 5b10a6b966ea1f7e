"""`python -m chatkit` as a user runs it: a subprocess, real files, exit codes, a local webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import FAKE_API_KEY, ROOT

from chatkit import cli
from chatkit.reports.render import render_summary_markdown

SEED_FILE = ROOT / "tests" / "fixtures" / "seed_session.json"
SEED = json.loads(SEED_FILE.read_text())
SECTIONS = ("### Root cause", "### Impact", "### Recovery steps", "### Prevention")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a clean environment: no key, no .env from the repo (cwd is a temp dir)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "CHATKIT_", "OPENAI_"))}
    base.update({"PYTHONPATH": str(ROOT), "CHATKIT_DATA_DIR": str(cwd / "data"), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "chatkit", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli_run(tmp_path, monkeypatch, capsys):
    """The CLI in this process (fast): clean environment, cwd a temp dir; returns (code, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith(("LLM_", "CHATKIT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHATKIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def write_jsonl(path: Path, *records: dict) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def test_analyze_the_seed_session_offline(tmp_path):
    result = run("analyze", str(SEED_FILE), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for section in SECTIONS:
        assert section in result.stdout
    assert "cksess_123" in result.stdout and "offline / rules-v1" in result.stdout
    assert "offline analyzer" in result.stderr


def test_a_rejected_row_exits_2_and_the_good_rows_are_still_printed(cli_run, tmp_path):
    bad = {**SEED, "id": "cksess_bad", "current_requests": -3}
    path = write_jsonl(tmp_path / "mixed.jsonl", {**SEED, "id": "cksess_good"}, bad)
    code, out, err = cli_run("analyze", str(path))
    assert code == 2
    assert "cksess_bad" in err and "current_requests" in err
    assert "## Session `cksess_good`" in out and "cksess_bad" not in out


def test_a_missing_file_exits_2(cli_run, tmp_path):
    code, out, err = cli_run("analyze", str(tmp_path / "nope.json"), str(SEED_FILE))
    assert code == 2 and "nope.json" in err
    assert "cksess_123" in out


def test_the_upload_cap_setting_applies_to_the_command_line(cli_run, tmp_path, monkeypatch):
    big = write_jsonl(tmp_path / "big.jsonl", {**SEED, "reason": "x" * (1024 * 1024)})
    monkeypatch.setenv("CHATKIT_MAX_UPLOAD_MB", "1")
    code, out, err = cli_run("analyze", str(big), str(SEED_FILE))
    assert code == 2 and "over the 1.0 MB limit" in err and "big.jsonl" in err
    assert "cksess_123" in out  # the other file is still analyzed


def test_the_csv_cell_cap_setting_applies_to_the_command_line(cli_run, tmp_path, monkeypatch):
    big = tmp_path / "big.csv"
    big.write_text(f'id,status,reason\ncksess_a,cancelled,"{"x" * 5000}"\ncksess_b,cancelled,admin closed\n')
    monkeypatch.setenv("CHATKIT_MAX_FIELD_BYTES", "4096")
    code, out, err = cli_run("analyze", str(big))
    assert code == 2 and "over the 4096 bytes allowed for one CSV cell" in err and "row 2" in err
    assert "cksess_b" in out


def test_json_format_is_one_document_with_diagnosis_and_report(cli_run, tmp_path):
    code, out, err = cli_run("analyze", str(SEED_FILE), "--format", "json", "--summary")
    assert code == 0, err
    document = json.loads(out)
    [entry] = document["sessions"]
    assert entry["id"] == "cksess_123"
    assert entry["diagnosis"]["category"] == "rate_limited"
    assert entry["diagnosis"]["severity"] == "warning"
    assert any("35 requests" in e for e in entry["diagnosis"]["evidence"])
    assert entry["report"]["root_cause"]["category"] == "rate_limited"
    assert entry["report"]["recovery_steps"] and entry["report"]["prevention"]
    assert document["summary"]["total_sessions"] == 1
    assert document["import"]["errors"] == []


def test_summary_command(cli_run, tmp_path):
    path = write_jsonl(tmp_path / "two.jsonl", SEED, {**SEED, "id": "cksess_2", "status": "expired"})
    code, out, err = cli_run("summary", str(path))
    assert code == 0, err
    assert "**2 sessions**" in out and "## Recommended actions" in out


def _sessions_of(path: Path) -> list:
    from chatkit.ingest import import_paths

    return import_paths([path]).sessions


def test_summary_is_that_of_the_sessions(cli_run, tmp_path):
    from chatkit.domain.sample import sample_records
    from chatkit.reports.analyzer import ChatKitAnalyzer
    from chatkit.settings import Settings

    path = write_jsonl(tmp_path / "many.jsonl", *sample_records(600, seed=3))
    want = ChatKitAnalyzer(Settings(_env_file=None, llm_provider="offline")).summarize(_sessions_of(path))
    code, out, err = cli_run("summary", str(path), "--format", "json")
    assert code == 0, err
    got = json.loads(out)["summary"]
    assert {k: v for k, v in got.items() if k != "analyzed_at"} == want.model_dump(
        mode="json", exclude={"analyzed_at"}
    )
    assert cli_run("summary", str(path))[1] == render_summary_markdown(want) + "\n"


def test_monitor_lists_the_findings_of_the_sessions(cli_run, tmp_path):
    from chatkit.domain.rules import diagnose
    from chatkit.domain.sample import sample_records

    path = write_jsonl(tmp_path / "many.jsonl", *sample_records(1_000, seed=3))
    findings = [d for d in map(diagnose, _sessions_of(path)) if d.severity.value == "critical"]
    assert len(findings) > 50
    code, out, err = cli_run("monitor", str(path), "--format", "json")
    assert code == 1, err
    document = json.loads(out)
    assert document["findings"] == [d.model_dump(mode="json") for d in findings]
    assert document["fail_on"] == "critical"
    code, out, _ = cli_run("monitor", str(path))
    listed = out.split(f"## Findings at or above critical ({len(findings)})\n\n")[1].splitlines()
    assert listed[:50] == [
        f"- `{d.session_id}` {d.category.value} ({d.severity.value}): {'; '.join(d.evidence[:2])}"
        for d in findings[:50]
    ]
    assert listed[50] == f"- … and {len(findings) - 50} more"


class _Webhook:
    def __init__(self) -> None:
        self.posts: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = _Webhook()
    yield hook
    hook.close()


def test_monitor_exits_1_on_a_critical_finding_and_posts_the_summary(cli_run, tmp_path, webhook):
    critical = {**SEED, "id": "cksess_hot", "current_requests": 60}  # 200 % of the limit
    path = write_jsonl(tmp_path / "hot.jsonl", SEED, critical)
    code, out, err = cli_run("monitor", str(path), "--fail-on", "critical", "--webhook", webhook.url)
    assert code == 1, err
    assert "cksess_hot" in out
    [post] = webhook.posts
    assert set(post) == {"text", "unfurl_links", "unfurl_media"}
    assert post["unfurl_links"] is False and post["unfurl_media"] is False
    assert "cksess_hot" in post["text"] and "critical" in post["text"]


def test_data_reaches_the_terminal_and_the_webhook_disarmed(cli_run, tmp_path, webhook, caplog):
    import logging

    reason = "\x1b]8;;http://evil.test/\x07click\x1b]8;;\x07 \x1b[2J <!channel> <http://evil.test|here>\r"
    hostile = {**SEED, "id": "cksess_hot", "current_requests": 60, "reason": reason}
    path = write_jsonl(tmp_path / "hot.jsonl", hostile)
    with caplog.at_level(logging.DEBUG):
        code, out, err = cli_run("monitor", str(path), "--fail-on", "critical", "--webhook", webhook.url)
        analyzed, shown, _ = cli_run("analyze", str(path))
    assert analyzed == 0 and "click" in shown and "channel" in shown  # the reason is printed, disarmed
    out += shown
    assert code == 1, err
    assert "\x1b" not in out + err and "\r" not in out + err and "\x07" not in out + err
    [post] = webhook.posts
    assert "<!channel>" not in post["text"] and "<http" not in post["text"]
    assert webhook.url not in caplog.text and webhook.url not in out + err


def test_monitor_exits_0_without_critical_findings(cli_run, tmp_path, webhook):
    code, _, err = cli_run("monitor", str(SEED_FILE), "--fail-on", "critical", "--webhook", webhook.url)
    assert code == 0, err
    assert len(webhook.posts) == 1
    assert cli_run("monitor", str(SEED_FILE), "--fail-on", "warning")[0] == 1
    assert cli_run("monitor", str(SEED_FILE), "--fail-on", "never")[0] == 0


def test_monitor_reports_a_failing_webhook(cli_run, tmp_path):
    code, _, err = cli_run("monitor", str(SEED_FILE), "--webhook", "http://127.0.0.1:9/hook")
    assert code == 3 and "webhook POST failed" in err


def test_an_unreachable_llm_fails_the_summary_with_exit_3(cli_run, tmp_path, monkeypatch):
    for name, value in {
        "LLM_PROVIDER": "openai",
        "LLM_API_KEY": FAKE_API_KEY,
        "LLM_BASE_URL": "http://127.0.0.1:9/v1",  # nothing listens on the discard port
        "LLM_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    code, out, err = cli_run("summary", str(SEED_FILE))
    assert code == 3 and "LLM summary failed" in out and "summary could not be written" in err
    assert cli_run("monitor", str(SEED_FILE), "--fail-on", "critical")[0] == 3  # no finding, no summary
    assert cli_run("monitor", str(SEED_FILE), "--fail-on", "warning")[0] == 1  # findings come first
    assert FAKE_API_KEY not in out + err


def test_bad_settings_and_crashes_exit_3_not_1_which_means_a_finding(cli_run, monkeypatch):
    with pytest.raises(SystemExit) as usage:  # argparse: a usage error
        cli_run("analyze", str(SEED_FILE), "--concurrency", "0")
    assert usage.value.code == 2
    monkeypatch.setenv("LLM_CONCURRENCY", "lots")
    code, out, err = cli_run("monitor", str(SEED_FILE))
    assert code == 3 and "setting LLM_CONCURRENCY" in err and "lots" not in err and out == ""
    monkeypatch.delenv("LLM_CONCURRENCY")

    def broken(*args, **kwargs):
        raise RuntimeError("postgresql://user:pw@db/x is down")

    monkeypatch.setattr(cli, "import_paths", broken)
    code, _, err = cli_run("monitor", str(SEED_FILE))
    assert code == 3 and "RuntimeError" in err and "pw@" not in err and "Traceback" not in err


def test_selftest_offline(cli_run, tmp_path):
    code, out, err = cli_run("selftest")
    assert code == 0, err
    assert "api_key_configured: False" in out and "selftest: OK" in out
    assert "### Root cause" in out


def test_analyze_through_an_llm_caches_across_processes(cli_run, tmp_path, fake_llm, monkeypatch):
    env = {
        "LLM_PROVIDER": "openai",
        "LLM_API_KEY": FAKE_API_KEY,
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_MODEL": "fake/model-1",
    }
    first = run("analyze", str(SEED_FILE), "-v", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "openai / fake/model-1 · 150 tokens" in first.stdout
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = cli_run("-v", "analyze", str(SEED_FILE))  # a later run over the same store
    assert code == 0 and "from cache" in out
    assert len(fake_llm.completions) == 1  # the second run paid nothing
    for output in (first.stdout, first.stderr, out, err):
        assert FAKE_API_KEY not in output


def test_selftest_reaches_the_llm_and_never_shows_the_key(cli_run, fake_llm, monkeypatch):
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("LLM_BASE_URL", fake_llm.base_url)
    code, out, err = cli_run("selftest")
    assert code == 0, err
    assert "api_key_configured: True" in out and "reachable" in out and "selftest: OK" in out
    assert FAKE_API_KEY not in out + err
    assert [r.path for r in fake_llm.requests] == ["/v1/models", "/v1/chat/completions"]


def test_worker_and_api_say_clearly_when_their_module_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "chatkit.worker", None)
    monkeypatch.setitem(sys.modules, "chatkit.api", None)
    assert cli.main(["worker", "--poll", "0.1"]) == 3
    assert cli.main(["api", "--port", "0"]) == 3
    err = capsys.readouterr().err
    assert "job worker is not available" in err and "REST API is not available" in err


def test_api_without_a_token_refuses_to_listen_beyond_loopback(tmp_path):
    result = run("api", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0" in result.stderr and "ANALYTICS_API_TOKEN" in result.stderr


def test_a_progress_bar_goes_to_stderr_on_a_terminal(tmp_path):
    """tqdm draws only on a terminal: give the CLI a pseudo-terminal as stderr and read what it drew."""
    import fcntl
    import pty
    import struct
    import termios

    from chatkit.domain.sample import sample_records

    path = write_jsonl(tmp_path / "many.jsonl", *sample_records(20))
    controller, terminal = pty.openpty()
    # A real terminal has a size; a new pseudo-terminal is 0 columns wide, where tqdm draws nothing.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "CHATKIT_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(ROOT), "CHATKIT_DATA_DIR": str(tmp_path / "data")})
    process = subprocess.Popen(
        [sys.executable, "-m", "chatkit", "analyze", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the CLI has exited
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert process.wait(60) in (0, 2)
    text = drawn.decode(errors="replace")
    assert "20/20" in text and "session" in text, text[-500:]


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    from chatkit.domain.sample import sample_records

    path = write_jsonl(tmp_path / "many.jsonl", *sample_records(20))
    result = run("analyze", str(path), cwd=tmp_path)
    assert "20/20" not in result.stderr and "session/s" not in result.stderr


def test_hash_password_reads_stdin_and_prints_a_hash_the_settings_accept(tmp_path: Path) -> None:
    import subprocess as sp

    from chatkit.domain.access import verify_password
    from chatkit.settings import Settings

    done = sp.run(
        [sys.executable, "-m", "chatkit", "hash-password"],
        input="correct horse battery\n",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    encoded = done.stdout.strip()
    assert verify_password("correct horse battery", encoded) and "correct horse" not in encoded
    assert Settings(_env_file=None, dashboard_password_hash=encoded).password_hash() == encoded
    assert "DASHBOARD_PASSWORD_HASH" in done.stderr
    empty = sp.run(
        [sys.executable, "-m", "chatkit", "hash-password"],
        input="\n",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert empty.returncode != 0 and "empty password" in empty.stderr


def test_llm_fetch_and_serve_go_to_the_local_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["llm"]) == cli.EXIT_FAILED
    assert "chatkit llm fetch" in capsys.readouterr().err
    # an unknown model is refused by chatkit.llm.local before anything is downloaded
    assert cli.main(["llm", "fetch", "--model", "no-such-model"]) == 1
    assert "unknown local model 'no-such-model'" in capsys.readouterr().err
    assert cli.main(["llm", "serve", "--model", "no-such-model", "--port", "1"]) == 1
    assert "unknown local model" in capsys.readouterr().err
