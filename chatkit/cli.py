"""`chatkit` (or `python -m chatkit`): analyze, summary, selftest, monitor, worker, api.

Exit codes: 0 every row imported and analyzed; 1 `monitor` found a finding at or above `--fail-on`;
2 a file or row was rejected (errors on stderr, good rows still analyzed and printed);
3 the run itself failed (a setting that does not validate, analysis or LLM summary errors, provider
unreachable, webhook failed, module missing, any other error): never 1, which means a finding.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from chatkit import services
from chatkit.domain.models import ChatKitSession, ImportResult, SessionReport, Severity, SummaryReport
from chatkit.domain.sample import SEED_SESSION
from chatkit.domain.text import slack_text, terminal_text
from chatkit.ingest import import_paths
from chatkit.ingest.table_import import TableImport
from chatkit.reports.analyzer import ChatKitAnalyzer, render_report_markdown, render_summary_markdown
from chatkit.reports.dataset import Dataset
from chatkit.settings import Settings, load_settings

EXIT_OK, EXIT_FINDING, EXIT_REJECTED, EXIT_FAILED = 0, 1, 2, 3

# Findings the monitor's text (and its webhook post) lists; JSON has every one.
SHOWN = 50

log = logging.getLogger("chatkit.cli")


def _say(*parts: object, file: Any = None) -> None:
    """print(), for everything this CLI writes: reports, issues and errors quote session data and
    LLM answers, so each part passes terminal_text (ANSI/OSC escapes and control characters gone)."""
    print(*(terminal_text(part) for part in parts), file=file)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatkit", description="Find out why ChatKit sessions were cancelled or expired."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (never secrets) to stderr")
    # Also accepted after the command; SUPPRESS keeps the subcommand from resetting a leading -v.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def llm_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--provider", help="openrouter, openai or offline (default: settings; offline without a key)"
        )
        sub.add_argument("--model", help="model name sent to the endpoint")

    analyze = commands.add_parser("analyze", parents=[common], help="a report per session (Markdown or JSON)")
    analyze.add_argument("files", nargs="+", metavar="FILE", help="JSON, JSONL or CSV exports")
    analyze.add_argument("--summary", action="store_true", help="add a summary of all sessions")
    analyze.add_argument("--format", choices=("md", "json"), default="md")
    analyze.add_argument("--concurrency", type=_positive_int, help="LLM requests in flight at once")
    analyze.add_argument(
        "--no-cache", action="store_true", help="analyze again even when a cached report exists"
    )
    llm_options(analyze)

    summary = commands.add_parser("summary", parents=[common], help="one summary of all sessions")
    summary.add_argument("files", nargs="+", metavar="FILE")
    summary.add_argument("--format", choices=("md", "json"), default="md")
    llm_options(summary)

    selftest = commands.add_parser(
        "selftest", help="show the configuration, reach the provider, analyze a sample"
    )
    llm_options(selftest)

    monitor = commands.add_parser(
        "monitor", parents=[common], help="for a scheduled job: exit 1 on findings, optional webhook"
    )
    monitor.add_argument("files", nargs="+", metavar="FILE")
    monitor.add_argument(
        "--fail-on",
        choices=("critical", "warning", "never"),
        default="critical",
        help="severity that exits 1",
    )
    monitor.add_argument("--webhook", metavar="URL", help='Slack-compatible webhook: POST {"text": summary}')
    monitor.add_argument("--format", choices=("md", "json"), default="md")
    llm_options(monitor)

    worker = commands.add_parser(
        "worker", parents=[common], help="run queued batch jobs from the store until stopped"
    )
    worker.add_argument("--poll", type=float, default=1.0, metavar="S", help="seconds between looks for work")
    worker.add_argument("--id", default=None, metavar="NAME", help="worker name (default: host:pid)")

    commands.add_parser(
        "hash-password",
        parents=[common],
        help="hash the dashboard's shared password for DASHBOARD_PASSWORD_HASH (read from the prompt or stdin)",
    )

    api = commands.add_parser("api", parents=[common], help="serve the REST API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    llm = commands.add_parser(
        "llm",
        help="a local model on 127.0.0.1 (private mode): `llm fetch` or `llm serve [--model M --port P]`",
        description="Fetch (verified against a pinned sha256) or serve a local model on loopback; "
        "`chatkit llm serve --help` lists the options. Needs requirements-llm.txt (make llm).",
    )
    llm.add_argument("llm_args", nargs=argparse.REMAINDER, metavar="fetch|serve ...")
    llm.set_defaults(verbose=False)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "provider", None):
        overrides["llm_provider"] = args.provider
    if getattr(args, "model", None):
        overrides["llm_model"] = args.model
    if getattr(args, "concurrency", None):
        overrides["llm_concurrency"] = args.concurrency
    return load_settings(overrides)


def _analyzer(settings: Settings, *, persistent: bool = True) -> ChatKitAnalyzer:
    """LLM reports cost money: keep them in the store (cache and audit) when one can be opened."""
    if settings.effective_provider == "offline":
        if settings.llm_provider.lower() != "offline":
            _say("note: no LLM_API_KEY set; using the offline analyzer", file=sys.stderr)
        return services.build(settings, actor="cli", persist=False).analyzer
    if persistent:
        try:
            return services.build(settings, actor="cli").analyzer
        except Exception as exc:  # noqa: BLE001 - without a store the run still works, uncached
            _say(
                f"note: store unavailable ({exc.__class__.__name__}); reports are not cached", file=sys.stderr
            )
    return services.build(settings, actor="cli", persist=False).analyzer


def _import(files: Sequence[str], settings: Settings) -> tuple[TableImport, int]:
    result = import_paths(
        files,
        max_bytes=settings.max_upload_bytes,
        max_field_bytes=settings.chatkit_max_field_bytes,
        max_total_bytes=settings.max_import_bytes,
    )
    for issue in result.errors:
        _say(f"error: {issue}", file=sys.stderr)
    for issue in result.warnings:
        _say(f"warning: {issue}", file=sys.stderr)
    return result, EXIT_REJECTED if result.errors else EXIT_OK


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="session", disable=total <= 1 or not sys.stderr.isatty())


def _analyze_all(
    analyzer: ChatKitAnalyzer, sessions: list[ChatKitSession], use_cache: bool
) -> list[SessionReport]:
    with _progress_bar(len(sessions)) as bar:
        return analyzer.analyze_batch(
            sessions, progress=lambda done, total, report: bar.update(1), use_cache=use_cache
        )


def _report_json(report: SessionReport) -> dict[str, Any]:
    d = report.diagnosis
    return {
        "id": report.session_id,
        "diagnosis": {
            "category": d.category.value,
            "severity": d.severity.value,
            "confidence": d.confidence,
            "evidence": d.evidence,
            "missing_fields": d.missing_fields,
            "flags": d.flags,
        },
        "report": report.body.model_dump(mode="json") if report.body else None,
        "raw_text": report.raw_text,
        "disagreement": report.disagreement,
        "error": report.error,
        "provider": report.provider,
        "model": report.model,
        "usage": report.usage.model_dump(),
        "from_cache": report.from_cache,
        "answer_mode": report.answer_mode,
        "fact_check": report.fact_check.model_dump(mode="json"),
    }


def _issues_json(result: ImportResult) -> dict[str, Any]:
    return {
        "files": result.files,
        "sessions": result.session_count,
        "errors": [issue.model_dump(mode="json") for issue in result.errors],
        "warnings": [issue.model_dump(mode="json") for issue in result.warnings],
    }


def _print_json(document: dict[str, Any]) -> None:
    _say(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def cmd_analyze(args: argparse.Namespace) -> int:
    settings = _settings(args)
    result, code = _import(args.files, settings)
    analyzer = _analyzer(settings)
    reports = _analyze_all(analyzer, result.sessions, use_cache=not args.no_cache)
    summary = (
        analyzer.summarize_dataset(Dataset.of(result), reports)
        if args.summary and result.session_count
        else None
    )
    if args.format == "json":
        document: dict[str, Any] = {
            "sessions": [_report_json(r) for r in reports],
            "import": _issues_json(result),
        }
        if summary is not None:
            document["summary"] = summary.model_dump(mode="json")
        _print_json(document)
    else:
        _say("\n---\n\n".join(render_report_markdown(r) for r in reports))
        if summary is not None:
            _say("\n---\n\n" + render_summary_markdown(summary))
    failed = [r for r in reports if r.error]
    for report in failed:
        _say(f"error: {report.session_id} could not be analyzed: {report.error}", file=sys.stderr)
    summary_failed = summary is not None and _summary_failed(summary)
    return code or (EXIT_FAILED if failed or summary_failed else EXIT_OK)


def _summary_failed(summary: SummaryReport) -> bool:
    """The LLM summary failed (the deterministic one was printed instead): the run did not do its job."""
    if summary.error:
        _say(f"error: the summary could not be written by the LLM: {summary.error}", file=sys.stderr)
    return summary.error is not None


def _summary_out(
    summary: SummaryReport, result: ImportResult, fmt: str, extra: dict[str, Any] | None = None
) -> None:
    if fmt == "json":
        _print_json(
            {"summary": summary.model_dump(mode="json"), "import": _issues_json(result), **(extra or {})}
        )
    else:
        _say(render_summary_markdown(summary))


def cmd_summary(args: argparse.Namespace) -> int:
    settings = _settings(args)
    result, code = _import(args.files, settings)
    # From the data set's columns: no session object per row (a million take ~10 GB).
    summary = _analyzer(settings).summarize_dataset(Dataset.of(result))
    _summary_out(summary, result, args.format)
    return code or (EXIT_FAILED if _summary_failed(summary) else EXIT_OK)


def cmd_monitor(args: argparse.Namespace) -> int:
    settings = _settings(args)
    result, code = _import(args.files, settings)
    dataset = Dataset.of(result)
    summary = _analyzer(settings).summarize_dataset(dataset)
    # The findings come from the facts frame's severities; only the findings are diagnosed with
    # their evidence, from the columns: the first SHOWN for the text, every one for JSON.
    rows = dataset.rows_at_or_above(None if args.fail_on == "never" else Severity(args.fail_on))
    lines = [
        f"- `{d['session_id']}` {d['category']} ({d['severity']}): {'; '.join(d['evidence'][:2])}"
        for d in dataset.diagnoses(rows[:SHOWN])
    ]
    text = render_summary_markdown(summary)
    if len(rows):
        text += f"\n## Findings at or above {args.fail_on} ({len(rows)})\n\n" + "\n".join(lines) + "\n"
        if len(rows) > SHOWN:
            text += f"- … and {len(rows) - SHOWN} more\n"
    if args.format == "json":
        extra = {"findings": list(dataset.diagnoses(rows)), "fail_on": args.fail_on}
        _summary_out(summary, result, "json", extra)
    else:
        _say(text)
    if args.webhook and not _post_webhook(args.webhook, text):
        return EXIT_FAILED
    if len(rows):  # deterministic, so they count even when the LLM summary failed
        return EXIT_FINDING
    return code or (EXIT_FAILED if _summary_failed(summary) else EXIT_OK)


def _post_webhook(url: str, text: str) -> bool:
    import httpx

    # The URL of a Slack webhook is itself a secret: httpx logs each request's URL at INFO.
    httpx_log = logging.getLogger("httpx")
    httpx_log.setLevel(max(httpx_log.getEffectiveLevel(), logging.WARNING))
    try:
        # mrkdwn from data: slack_text disarms <!channel> and <url|text>; no unfurling (fetching).
        payload = {"text": slack_text(text), "unfurl_links": False, "unfurl_media": False}
        response = httpx.post(url, json=payload, timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        # The URL of a Slack webhook is itself a secret: name only the failure.
        _say(f"error: webhook POST failed: {exc.__class__.__name__}", file=sys.stderr)
        return False
    return True


def cmd_selftest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _say("Configuration (secrets hidden):")
    for key, value in settings.public_view().items():
        _say(f"  {key}: {value}")
    analyzer = _analyzer(settings, persistent=False)
    ok, message = analyzer.test_connection()
    _say(f"Provider {analyzer.provider_name} / {analyzer.model}: {'OK' if ok else 'FAILED'} - {message}")
    if not ok:
        return EXIT_FAILED
    report = analyzer.analyze(SEED_SESSION, use_cache=False)
    _say()
    _say(render_report_markdown(report))
    if report.error or report.body is None:
        _say("selftest: the sample analysis did not produce a structured report", file=sys.stderr)
        return EXIT_FAILED
    _say("selftest: OK")
    return EXIT_OK


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_worker(args: argparse.Namespace) -> int:
    try:
        from chatkit.worker import Retention, work_forever
    except ImportError as exc:
        _say(f"error: the job worker is not available in this installation ({exc})", file=sys.stderr)
        return EXIT_FAILED
    settings = load_settings()
    worker_id = args.id or f"{socket.gethostname()}:{os.getpid()}"
    built = services.build(settings, actor=f"worker:{worker_id}")
    analyzer = built.analyzer
    _say(
        f"worker {worker_id}: {analyzer.provider_name}/{analyzer.model}, polling every {args.poll:g} s",
        file=sys.stderr,
    )
    try:
        store = built.require_store()
        retention = Retention(store, settings.retention_days)  # at start, then daily
        work_forever(
            store, analyzer, worker_id, poll_s=args.poll, stop=_stop_on_signals(), retention=retention
        )
    finally:
        built.close()
    return EXIT_OK


def cmd_api(args: argparse.Namespace) -> int:
    try:
        from chatkit.api import main as serve_api
    except ImportError as exc:
        _say(f"error: the REST API is not available in this installation ({exc})", file=sys.stderr)
        return EXIT_FAILED
    # api.main refuses a non-loopback address when no ANALYTICS_API_TOKEN is set.
    serve_api(args.host, args.port)
    return EXIT_OK


def cmd_hash_password(args: argparse.Namespace) -> int:
    """Never from argv (it would land in the shell history and `ps`): a prompt, or stdin in scripts."""
    from chatkit.domain.access import hash_password

    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Dashboard password: ")
        if first != getpass.getpass("Again: "):
            print("error: the two entries differ; nothing was hashed", file=sys.stderr)
            return EXIT_FAILED
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if not first:
        print("error: an empty password cannot be hashed", file=sys.stderr)
        return EXIT_FAILED
    print(hash_password(first))
    print("Set it as DASHBOARD_PASSWORD_HASH (environment, .env or secrets.toml).", file=sys.stderr)
    return EXIT_OK


def cmd_llm(args: argparse.Namespace) -> int:
    if not args.llm_args or args.llm_args[0] not in {"fetch", "serve"}:
        print("error: say `chatkit llm fetch` or `chatkit llm serve` (see --help)", file=sys.stderr)
        return EXIT_FAILED
    from chatkit.llm.local import main as local_main

    return local_main(args.llm_args)


COMMANDS = {
    "hash-password": cmd_hash_password,
    "analyze": cmd_analyze,
    "summary": cmd_summary,
    "selftest": cmd_selftest,
    "monitor": cmd_monitor,
    "worker": cmd_worker,
    "api": cmd_api,
    "llm": cmd_llm,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    # Exit code 1 is monitor's "finding present": a crash (Python's exit 1) must not look like one.
    try:
        return COMMANDS[args.command](args)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            return _crashed(exc, args.verbose)
        # A setting from the environment, .env or an option: name it, never echo its value.
        for error in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in error["loc"]).upper()
            _say(f"error: setting {name}: {error['msg']}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - any failure is exit 3 and one line, never exit 1
        return _crashed(exc, args.verbose)


def _crashed(exc: Exception, verbose: bool) -> int:
    # The message may quote configuration (a database URL): the type says enough; -v shows everything.
    if verbose:
        log.error("the run failed", exc_info=exc)
    hint = "" if verbose else " (run with -v for details)"
    _say(f"error: the run failed: {exc.__class__.__name__}{hint}", file=sys.stderr)
    return EXIT_FAILED
