"""Password hashing with Argon2id (argon2-cffi's maintained defaults, RFC 9106 low-memory)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


def use_parameters(parameters: Parameters) -> None:
    """Hash new passwords with other Argon2 parameters. Only the test suite calls this (with
    argon2.profiles.CHEAPEST); stored hashes keep their own parameters and still verify, and
    `needs_rehash` reports them once the defaults are back."""
    global _hasher
    _hasher = PasswordHasher.from_parameters(parameters)


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verified against when the username is unknown, so both failures take the same time.
    return hasher.hash("not a password of anyone")


def check_password_policy(password: str) -> None:
    """Raise ValueError for a password too short to keep."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; a None hash (unknown user) is checked against a dummy."""
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(_hasher), password)
    except (VerificationError, InvalidHashError):  # VerifyMismatchError is a VerificationError
        return False
    return matched and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)
