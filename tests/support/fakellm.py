"""A loopback HTTP server that speaks the OpenAI chat-completions protocol, scriptable per test.

Real sockets and the real `openai` client: what the tests see is what production sees, minus the
internet. Each request pops the next scripted `Behaviour`; when the script is empty the server answers
with a valid report computed from the request, so batch tests need no script at all. Every request is
recorded (headers and JSON body) for assertions on prompts, retries and concurrency.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAKE_MODEL = "fake/model-1"


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one request."""

    kind: str  # content | status | hang | malformed
    content: str = ""  # assistant message text (kind == content)
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""  # raw response body (kind == status / malformed)
    delay_s: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: str
    at: float = field(default_factory=time.monotonic)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return (self.body or {}).get("messages", [])

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)


# ---- behaviour constructors: what tests put in the queue -------------------------------------------


def report_dict(category: str = "rate_limited", **overrides: Any) -> dict[str, Any]:
    report = {
        "root_cause": {
            "category": category,
            "summary": f"The session ended as {category}.",
            "evidence": ["35 requests vs limit 30"],
        },
        "impact": "The user's conversation stopped.",
        "recovery_steps": ["Start a new session for the user."],
        "prevention": ["Raise the per-minute limit."],
        "severity": "warning",
        "confidence": 0.8,
    }
    report.update(overrides)
    return report


def good_json(report: dict[str, Any] | None = None, delay_s: float = 0.0) -> Behaviour:
    return Behaviour("content", content=json.dumps(report or report_dict()), delay_s=delay_s)


def fenced_json(report: dict[str, Any] | None = None) -> Behaviour:
    text = "```json\n" + json.dumps(report or report_dict(), indent=2) + "\n```"
    return Behaviour("content", content=text)


def prose_json(report: dict[str, Any] | None = None) -> Behaviour:
    body = json.dumps(report or report_dict())
    return Behaviour("content", content=f"Sure! Here is the analysis you asked for: {body} Hope it helps.")


def text(content: str) -> Behaviour:
    return Behaviour("content", content=content)


def garbage() -> Behaviour:
    return Behaviour("content", content="I think the session was sad. {not json at all")


def error(status: int, message: str = "error", *, retry_after: str | None = None) -> Behaviour:
    """An OpenAI-style error envelope with `status`."""
    kinds = {401: "invalid_request_error", 429: "rate_limit_exceeded", 500: "server_error"}
    body = json.dumps(
        {"error": {"message": message, "type": kinds.get(status, "api_error"), "param": None, "code": None}}
    )
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return Behaviour("status", status=status, headers=headers, body=body)


def unauthorized() -> Behaviour:
    return error(401, "Incorrect API key provided.")


def rate_limited(retry_after: str = "1") -> Behaviour:
    return error(429, "Rate limit reached for requests", retry_after=retry_after)


def server_error() -> Behaviour:
    return error(500, "The server had an error while processing your request.")


def hang(seconds: float) -> Behaviour:
    """Say nothing for `seconds` (longer than the client's timeout), then answer well."""
    return Behaviour("hang", delay_s=seconds)


def malformed() -> Behaviour:
    """A 200 whose body is not a chat completion at all."""
    return Behaviour("malformed", body='{"choices": [{"message": ')


# ---- the server ------------------------------------------------------------------------------------


class FakeLLM:
    """`with FakeLLM() as fake:` or via the `fake_llm` fixture; `fake.base_url` is the `/v1` URL."""

    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.requests: list[RecordedRequest] = []
        self.latency_s = 0.0  # added to every default answer: lets batch tests overlap requests
        # response_format types this endpoint answers with HTTP 400, as servers without that mode do
        self.reject_formats: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown (once per test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakellm", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def push(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self.script.extend(behaviours)

    @property
    def completions(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def arrivals(self) -> list[float]:
        """When each chat completion arrived (time.monotonic() in this process), in order."""
        return sorted(r.at for r in self.completions)

    def most_in_any_window(self, window_s: float) -> int:
        """The most chat completions that arrived within any `window_s` seconds."""
        times = self.arrivals()
        most, first = 0, 0
        for last, at in enumerate(times):
            while at - times[first] >= window_s:
                first += 1
            most = max(most, last - first + 1)
        return most

    def all_text(self) -> str:
        """Everything any client sent, headers and bodies, for leak assertions."""
        return "\n".join(json.dumps(r.headers) + "\n" + r.raw for r in self.requests)

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers at once
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # called by the handler
    def _next(self) -> Behaviour | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def default_answer(body: dict[str, Any]) -> str:
    """A valid answer derived from the request: a report naming the diagnosed category, or Markdown."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    if (body.get("response_format") or {}).get("type") not in {"json_object", "json_schema"}:
        return "## Overview\nMost sessions ended because of rate limits.\n\n## Recommended actions\n- Raise limits."
    match = re.search(r'"category":\s*"(\w+)"', prompt)
    return json.dumps(report_dict(match.group(1) if match else "undetermined"))


def _completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


def _handler_for(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

        def _record(self) -> RecordedRequest:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}  # HTTP names are case-insensitive
            request = RecordedRequest(self.command, self.path, headers, body, raw)
            fake._enter(request)
            return request

        def _send(self, status: int, body: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to answer

        def do_GET(self) -> None:
            self._record()
            try:
                if self.path.rstrip("/").endswith("/models"):
                    models = {
                        "object": "list",
                        "data": [{"id": FAKE_MODEL, "object": "model", "owned_by": "fake"}],
                    }
                    self._send(200, json.dumps(models))
                else:
                    self._send(404, json.dumps({"error": {"message": "not found", "type": "not_found"}}))
            finally:
                fake._leave()

        def do_POST(self) -> None:
            request = self._record()
            try:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, json.dumps({"error": {"message": "not found", "type": "not_found"}}))
                    return
                body = request.body or {}
                model = str(body.get("model", FAKE_MODEL))
                asked = (body.get("response_format") or {}).get("type")
                if asked in fake.reject_formats:
                    message = f"response_format type '{asked}' is not supported"
                    self._send(
                        400, json.dumps({"error": {"message": message, "type": "invalid_request_error"}})
                    )
                    return
                behaviour = fake._next()
                if behaviour is None:
                    if fake.latency_s:
                        fake._stopping.wait(fake.latency_s)
                    self._send(200, json.dumps(_completion(default_answer(body), model)))
                    return
                if behaviour.delay_s:
                    fake._stopping.wait(behaviour.delay_s)
                if behaviour.kind == "content":
                    self._send(200, json.dumps(_completion(behaviour.content, model)))
                elif behaviour.kind == "hang":
                    self._send(200, json.dumps(_completion(default_answer(body), model)))
                else:
                    self._send(behaviour.status, behaviour.body, behaviour.headers)
            finally:
                fake._leave()

    return Handler
