"""Errors the service layer raises; the app shows their messages to the user."""

from __future__ import annotations


class PermissionDenied(Exception):
    """The acting user's role or group access does not allow this."""


class NotFound(LookupError):
    """The object asked for does not exist."""


class InvalidInput(ValueError):
    """The request is well-formed but breaks a rule (consent, simulated data, bad values)."""


class AccountDisabled(PermissionDenied):
    """The acting account was disabled or removed after it logged in; the app logs it out."""
