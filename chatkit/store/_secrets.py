"""Secret checks for what the store writes (their own module so every store module shares one copy).

Another branch moves these to `chatkit/domain/secrets.py`; when it lands, this module becomes a
re-export of those two functions and nothing else in the store changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chatkit.domain.models import is_secret_key

# Credential-shaped text (API keys, ChatKit client secrets, bearer headers) in free-text columns.
_SECRET_TEXT = re.compile(r"\b(?:sk|ek|rk)[-_][A-Za-z0-9_\-]{16,}|\bBearer\s+\S+", re.I)


def assert_secret_free(value: Any, what: str) -> None:
    """Refuse to store a mapping that carries a secret-like key at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and is_secret_key(key):
                    raise ValueError(f"refusing to store {what}: key {key!r} looks like a secret")
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def redact_text(text: str) -> str:
    """Free text (errors, audit details) may quote a header or key by accident: mask it."""
    return _SECRET_TEXT.sub("[redacted]", text)
