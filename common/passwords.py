"""Password hashing with scrypt (standard library): charge point Basic auth and locker users.

The format ``scrypt$N$r$p$salt$digest`` keeps the cost parameters with each hash, so they can be
raised later without invalidating what is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1


def _raw(password: str | bytes) -> bytes:
    """A password as bytes: text as UTF-8; bytes as they are (an OCPP 1.6 AuthorizationKey is
    binary, see :mod:`ocppj.basic_auth`)."""
    return password.encode() if isinstance(password, str) else password


def hash_password(password: str | bytes) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(_raw(password), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str | bytes, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(_raw(password), salt=base64.b64decode(salt), n=int(n), r=int(r),
                               p=int(p), dklen=32)
    return hmac.compare_digest(candidate, base64.b64decode(digest))
