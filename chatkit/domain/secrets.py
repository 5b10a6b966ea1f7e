"""Secrets: the one definition of what looks like a credential, the one walker that removes it from
nested data, and the one redactor for free text.

Every layer asks here: the model strips secret-like keys before validation, ingest drops secret
columns, the store refuses a report carrying a secret-like key and masks credential-shaped text in the
columns it writes. Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

# Any key that looks like a credential is removed at import, at any depth. Keys are compared in
# snake_case ("privateKey" -> "private_key"); long words match inside a key, short ones ("pwd",
# "auth", "jwt") only as a whole word, so "author" and "max_requests_per_1_minute" stay.
_SECRET_KEY = re.compile(
    r"secret|passw|passphrase|api_?key|access_?key|private_?key|ephemeral_?key|signing_?key"
    r"|session_?key|token|cookie|authoriz|credential|bearer|(?:^|_)(?:pwd|auth|jwt|otp)(?:_|$)"
)
# Counters and flags that are not secrets although their names contain "token" or "auth".
_NOT_SECRET = re.compile(
    r"^(?:prompt|completion|total|max|input|output|reasoning|cached)_tokens$"
    r"|^tokens$|^tokens?_(?:used|count|limit)$|^auth_required$"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Credential-shaped text (API keys, ChatKit client secrets, bearer headers, JWTs) in free text.
_SECRET_TEXT = re.compile(
    r"\b(?:sk|ek|rk)[-_][A-Za-z0-9_\-]{16,}|\bBearer\s+\S+"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    re.I,
)
REDACTED = "[redacted]"

# Values that are never containers: checked by exact type first, which is cheaper than isinstance.
_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    # Cached: the same few dozen keys repeat in every record of a large import.
    name = _CAMEL.sub("_", key).lower().replace("-", "_")
    return bool(_SECRET_KEY.search(name)) and not _NOT_SECRET.search(name)


def strip_secrets(value: Any) -> Any:
    """A copy of `value` without secret-like keys, at any depth (iterative: no recursion limit), and
    with credential-shaped text in its strings masked (a reason quoting a header, say)."""
    if not isinstance(value, (dict, list)):
        return redact_value(value)
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    leaf, secret = _LEAF_TYPES, is_secret_key
    while stack:
        src, dst = stack.pop()
        # Dicts and lists walked separately: this runs once per imported record, so it stays tight.
        if isinstance(src, dict):
            for key, item in src.items():
                if isinstance(key, str) and secret(key):
                    continue
                if type(item) not in leaf and isinstance(item, (dict, list)):
                    copy: Any = {} if isinstance(item, dict) else []
                    stack.append((item, copy))
                    item = copy
                elif type(item) is str:
                    item = redact_value(item)
                dst[key] = item
        else:
            for item in src:
                if type(item) not in leaf and isinstance(item, (dict, list)):
                    copy = {} if isinstance(item, dict) else []
                    stack.append((item, copy))
                    item = copy
                elif type(item) is str:
                    item = redact_value(item)
                dst.append(item)
    return root


# A lone surrogate (JSON's `"\\ud800"`, which json.loads reads as is) cannot be written as UTF-8:
# Arrow, parquet, the store, JSON responses and the browser would fail on it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def redact_value(value: Any) -> Any:
    """A string as it may be kept: credential-shaped text masked, and a lone surrogate replaced by
    U+FFFD (every string of an imported record passes here); any other value as it is."""
    if type(value) is not str:
        return value
    if _LONE_SURROGATE.search(value):  # rare: one C-speed scan in the common case
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if _SECRET_TEXT.search(value):
        return _SECRET_TEXT.sub(REDACTED, value)
    return value


def find_secret_key(value: Any) -> str | None:
    """The first secret-like key in `value` at any depth (mappings, lists, tuples), else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and is_secret_key(key):
                    return key
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def assert_secret_free(value: Any, what: str) -> None:
    """Refuse to store a mapping that carries a secret-like key at any depth."""
    key = find_secret_key(value)
    if key is not None:
        raise ValueError(f"refusing to store {what}: key {key!r} looks like a secret")


def redact_text(text: str) -> str:
    """Free text (errors, audit details) may quote a header or key by accident: mask it."""
    return _SECRET_TEXT.sub(REDACTED, text)


__all__ = [
    "REDACTED",
    "assert_secret_free",
    "find_secret_key",
    "is_secret_key",
    "redact_text",
    "redact_value",
    "strip_secrets",
]
