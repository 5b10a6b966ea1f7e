"""The shared-password fallback: hashed at rest (scrypt, stdlib), compared in constant time.

The stored form is a PHC-style string, `$scrypt$ln=14,r=8,p=1$<salt>$<hash>` (unpadded base64), so
a hash made by `chatkit hash-password` can be pasted into DASHBOARD_PASSWORD_HASH and read back by
any tool that knows the format. The cost parameters travel with the hash: raising the default later
keeps old hashes verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

_PREFIX = "$scrypt$"
# 2**14 × r=8 needs 16 MiB and ~50 ms per check: cheap for one sign-in, costly for a guessing run
# that got past the throttle. OWASP's minimum for scrypt.
DEFAULT_LOG2_N = 14
DEFAULT_R = 8
DEFAULT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_FORMAT = re.compile(
    r"^\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})\$(?P<salt>[A-Za-z0-9+/]{16,})\$(?P<hash>[A-Za-z0-9+/]{32,})$"
)
# Upper bounds keep a hand-edited hash from turning one sign-in into gigabytes of memory.
_MAX_LOG2_N, _MAX_R, _MAX_P = 20, 32, 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, ln: int, r: int, p: int) -> bytes:
    n = 1 << ln
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * 128 * r * n + (1 << 20),
        dklen=_HASH_BYTES,
    )


def hash_password(
    password: str,
    *,
    salt: bytes | None = None,
    log2_n: int = DEFAULT_LOG2_N,
    r: int = DEFAULT_R,
    p: int = DEFAULT_P,
) -> str:
    """The storable hash of `password`; a fresh random salt unless one is given (tests)."""
    if not password:
        raise ValueError("an empty password cannot be hashed")
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    digest = _scrypt(password, salt, log2_n, r, p)
    return f"{_PREFIX}ln={log2_n},r={r},p={p}${_b64(salt)}${_b64(digest)}"


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    match = _FORMAT.match(encoded.strip())
    if not match:
        return None
    ln, r, p = int(match["ln"]), int(match["r"]), int(match["p"])
    if not (1 <= ln <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    try:
        return ln, r, p, _unb64(match["salt"]), _unb64(match["hash"])
    except ValueError:
        return None


def is_password_hash(encoded: str) -> bool:
    """Whether `encoded` is a hash this module can verify (settings validate with it)."""
    return _parse(encoded) is not None


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches; the digests are compared with `hmac.compare_digest`.

    A malformed hash verifies nothing (settings refuse one at load, so this is a second line).
    """
    parsed = _parse(encoded)
    if parsed is None:
        return False
    ln, r, p, salt, expected = parsed
    return hmac.compare_digest(_scrypt(password, salt, ln, r, p), expected)
