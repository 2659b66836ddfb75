"""The secrets of a log-in session: random tokens, and the digests the database keeps instead of them."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32  # 256 random bits: not guessable, so a fast digest (not a password hash) is enough


def new_token() -> str:
    """A fresh URL- and cookie-safe random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def digest(value: str) -> str:
    """The SHA-256 (hex) stored for a token, a one-time code or a user agent; the value itself never is."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
