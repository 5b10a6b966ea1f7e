"""LLM providers: one small interface, one OpenAI-compatible implementation with our own retries.

The `openai` client's built-in retries are off (`max_retries=0`) so that every retry is ours, run by
tenacity: counted, logged, spaced by full-jitter exponential backoff and never shorter than the
server's `Retry-After`; a rejected key (401/403) and other 4xx are never retried.
Every request passes a `RateGate` (chatkit.llm.runtime): the process's concurrency cap and request
budget for this endpoint (from `from_settings`), or a gate of the provider's own when built directly.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import tenacity

from chatkit.domain.models import TokenUsage
from chatkit.llm.runtime import RateGate, get_runtime, make_limiter
from chatkit.settings import Settings

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

APP_TITLE = "ChatKit Session Analytics"
APP_URL = "https://github.com/chatkit-session-analytics"
# A Retry-After longer than this is not waited out: the batch would look frozen.
MAX_RETRY_AFTER_S = 120.0


class LLMError(Exception):
    """Any failure to get a completion; the message is safe to show (it never holds the key)."""


class LLMAuthError(LLMError):
    """401/403: the key is wrong or lacks access. Never retried."""


class LLMRateLimitError(LLMError):
    """429 after every retry."""


class _Retry(Exception):
    """An attempt that failed in a way worth another: the error to raise if none is left, and how
    long the server asked us to wait."""

    def __init__(self, error: LLMError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class LLMTimeoutError(LLMError):
    """No answer within the per-request timeout, after every retry."""


@dataclass(frozen=True)
class Completion:
    text: str
    usage: TokenUsage
    model: str = ""
    attempts: int = 1
    # How the answer was constrained: "json_schema", "json_object" or "text" (no response_format).
    answer_mode: str = "text"


Messages = list[dict[str, str]]


class LLMProvider(Protocol):
    name: str
    model: str

    async def complete(
        self, messages: Messages, *, response_format: dict[str, Any] | None = None
    ) -> Completion:
        """One chat completion; raises `LLMError` (or a subclass) when it cannot."""
        ...

    async def check(self) -> tuple[bool, str]:
        """Is the endpoint reachable with this key? A short, key-free message either way."""
        ...

    async def aclose(self) -> None: ...


def is_openrouter(base_url: str) -> bool:
    host = urlparse(base_url).hostname or ""
    return host == "openrouter.ai" or host.endswith(".openrouter.ai")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


class OpenAICompatibleProvider:
    """Any endpoint that speaks OpenAI chat completions (OpenRouter, OpenAI, vLLM, Ollama, ...)."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str,
        api_key: str,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        requests_per_minute: int = 20,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        rate_window_s: float = 60.0,
        gate: RateGate | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._api_key = api_key
        if gate is None:
            limiter, _ = make_limiter(requests_per_minute, rate_window_s)
            gate = RateGate(
                limiter,
                name=base_url,
                requests=requests_per_minute,
                window_s=rate_window_s,
                concurrency=None,
                blocking_io=False,
            )
        self.gate = gate
        self._headers = {"HTTP-Referer": APP_URL, "X-Title": APP_TITLE} if is_openrouter(base_url) else {}
        # A client's connection pool belongs to one event loop. The analyzer runs everything on the
        # process's LLM runtime loop; a provider driven from other loops keeps one client per loop.
        self._bound: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI]
        self._bound = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, store_url: str | None = None, **overrides: Any
    ) -> OpenAICompatibleProvider:
        """The provider for `settings`, behind the process's gate for its endpoint; with `store_url`,
        the request budget is shared with every process on that store."""
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
        options: dict[str, Any] = {
            "name": settings.llm_provider.lower(),
            "model": settings.llm_model,
            "base_url": settings.llm_base_url,
            "api_key": key,
            "timeout_s": settings.llm_timeout_s,
            "max_retries": settings.llm_max_retries,
            "requests_per_minute": settings.llm_requests_per_minute,
            "rate_window_s": settings.llm_rate_window_s,
        }
        if "gate" not in overrides:
            options["gate"] = get_runtime().gate(
                endpoint=settings.llm_base_url,
                requests=settings.llm_requests_per_minute,
                window_s=settings.llm_rate_window_s,
                concurrency=settings.llm_concurrency,
                store_url=store_url,
            )
        return cls(**{**options, **overrides})

    def __repr__(self) -> str:  # never the key
        return (
            f"OpenAICompatibleProvider(name={self.name!r}, model={self.model!r}, base_url={self.base_url!r})"
        )

    def _bind(self) -> openai.AsyncOpenAI:
        import openai  # heavy (seconds on a busy machine): only when an LLM is really used

        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._bound:
                client = openai.AsyncOpenAI(
                    base_url=self.base_url,
                    api_key=self._api_key,
                    timeout=self.timeout_s,
                    max_retries=0,
                    default_headers=self._headers,
                    # The rate token is taken here, as each request leaves: see RateGate.
                    http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [self._take_token]}),
                )
                self._bound[loop] = client
            return self._bound[loop]

    async def _take_token(self, request: Any) -> None:
        if request.url.path.endswith("/chat/completions"):
            await self.gate.acquire()

    async def aclose(self) -> None:
        """Close this loop's client (call before the loop ends)."""
        with self._lock:
            bound = self._bound.pop(asyncio.get_running_loop(), None)
        if bound is not None:
            await bound.close()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff, but never shorter than the server asked for."""
        delay = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
        return max(delay, retry_after or 0.0)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        retry_after = failure.retry_after if isinstance(failure, _Retry) else None
        return self._backoff(state.attempt_number - 1, retry_after)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        error = failure.error if isinstance(failure, _Retry) else failure
        log.info("LLM retry %d/%d in %.2f s after: %s", state.attempt_number, self.max_retries, delay, error)

    async def complete(
        self, messages: Messages, *, response_format: dict[str, Any] | None = None
    ) -> Completion:
        client = self._bind()
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response, mode = await self._attempt(client, messages, response_format)
                    return _completion(response, attempt.retry_state.attempt_number, self.name, mode)
        except _Retry as failure:
            raise failure.error from None
        raise LLMError("no attempt made")  # not reached: tenacity returns or raises above

    async def _attempt(
        self, client: openai.AsyncOpenAI, messages: Messages, response_format: dict[str, Any] | None
    ) -> tuple[Any, str]:
        """One attempt and the answer mode it got. An endpoint that rejects the asked mode is asked again
        at once in the next weaker one (json_schema -> json_object -> none); what worked is remembered
        for the endpoint, so later requests start there."""
        import openai

        chain = _format_chain(response_format)
        endpoint = (self.base_url, self.model)
        while True:
            retry_after: float | None = None
            options: dict[str, Any] = {"model": self.model, "messages": messages}
            with _MODES_LOCK:
                floor = _ENDPOINT_MODES.get(endpoint, 0)
            fmt = chain[floor] if chain else None
            mode = str(fmt["type"]) if fmt else "text"
            if fmt is not None:
                options["response_format"] = fmt
            async with self.gate.slot():  # the backoff sleep between attempts holds no slot
                try:
                    return await client.chat.completions.create(**options), mode
                except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                    raise LLMAuthError(
                        f"{self.name} rejected the API key (HTTP {exc.status_code}); check LLM_API_KEY"
                    ) from None
                except openai.RateLimitError as exc:
                    retry_after = _retry_after(exc)
                    error: LLMError = LLMRateLimitError(f"{self.name} rate limit (HTTP 429)")
                except openai.APITimeoutError:
                    error = LLMTimeoutError(f"{self.name} did not answer within {self.timeout_s:g} s")
                except openai.APIConnectionError as exc:
                    error = LLMError(f"cannot reach {self.base_url}: {exc.__class__.__name__}")
                except openai.BadRequestError as exc:
                    if "response_format" in options and _rejects_format(exc):
                        # Some endpoints reject a mode; a weaker one (or the lenient parser) copes.
                        # Not a retry: the same request in the next mode, at once.
                        log.info("%s rejects response_format %s; asking in a weaker mode", self.name, mode)
                        with _MODES_LOCK:
                            _ENDPOINT_MODES[endpoint] = max(
                                _ENDPOINT_MODES.get(endpoint, 0), _MODE_RANK[mode] + 1
                            )
                        continue
                    raise LLMError(f"{self.name} rejected the request (HTTP 400): {_message(exc)}") from None
                except openai.APIStatusError as exc:
                    if exc.status_code < 500:
                        raise LLMError(
                            f"{self.name} answered HTTP {exc.status_code}: {_message(exc)}"
                        ) from None
                    retry_after = _retry_after(exc)
                    error = LLMError(f"{self.name} server error (HTTP {exc.status_code})")
                except (ValueError, openai.APIResponseValidationError):
                    error = LLMError(f"{self.name} sent a malformed response")
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                raise type(error)(f"{error}; server asks to wait {retry_after:.0f} s") from None
            raise _Retry(error, retry_after)

    async def check(self) -> tuple[bool, str]:
        import openai

        client = self._bind()
        try:
            await client.models.list()
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            return False, f"{self.base_url} rejected the API key (HTTP {exc.status_code})"
        except openai.APITimeoutError:
            return False, f"{self.base_url} did not answer within {self.timeout_s:g} s"
        except openai.APIConnectionError as exc:
            return False, f"cannot reach {self.base_url}: {exc.__class__.__name__}"
        except openai.APIStatusError as exc:
            return False, f"{self.base_url} answered HTTP {exc.status_code}"
        except ValueError:
            return False, f"{self.base_url} sent a malformed model list"
        return True, f"{self.base_url} reachable; model {self.model}"


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return exc.message[:300]


# What each endpoint (base URL, model) accepted: the index of the strongest mode it takes, shared by
# every provider of the process, so a rejected mode costs one extra request per endpoint, not per call.
_MODE_RANK = {"json_schema": 0, "json_object": 1, "text": 2}
_ENDPOINT_MODES: dict[tuple[str, str], int] = {}
_MODES_LOCK = threading.Lock()
_JSON_OBJECT: dict[str, Any] = {"type": "json_object"}


def _format_chain(response_format: dict[str, Any] | None) -> list[dict[str, Any] | None]:
    """The modes to try in order, indexed by `_MODE_RANK`: [json_schema, json_object, none]."""
    if not response_format:
        return []
    if response_format.get("type") == "json_schema":
        return [response_format, _JSON_OBJECT, None]
    return [response_format, response_format, None]  # json_object asked: its rank 0 is json_object


def _rejects_format(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("response_format", "json_schema", "json_object", "response format"))


def endpoint_mode(base_url: str, model: str) -> str | None:
    """The strongest answer mode known to work for this endpoint, or None if nothing was rejected yet."""
    with _MODES_LOCK:
        rank = _ENDPOINT_MODES.get((base_url, model))
    return None if rank is None else next(m for m, r in _MODE_RANK.items() if r == rank)


def _completion(response: Any, attempts: int, name: str, mode: str = "text") -> Completion:
    choices = getattr(response, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise LLMError(f"{name} sent a response without choices")
    usage = getattr(response, "usage", None)
    return Completion(
        text=choices[0].message.content or "",
        usage=TokenUsage(
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            total_tokens=getattr(usage, "total_tokens", 0) or 0,
        ),
        model=getattr(response, "model", "") or "",
        attempts=attempts,
        answer_mode=mode,
    )
