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


class StoreBusy(Exception):
    """The database stayed locked by other writers (SQLite) or the transaction met a deadlock (PostgreSQL)
    after a few retries; nothing was written and the same request may simply be tried again."""

    def __init__(self, message: str = "The database is busy; nothing was saved. Try again in a moment.") -> None:
        super().__init__(message)


class LoginThrottled(Exception):
    """Too many wrong passwords for one account name, or from one client: log-ins wait `minutes`."""

    def __init__(self, minutes: int) -> None:
        self.minutes = max(1, minutes)
        unit = "minute" if self.minutes == 1 else "minutes"
        super().__init__(f"Too many failed log-ins; try again in {self.minutes} {unit}.")


class SessionEnded(AccountDisabled):
    """A log-in no longer counts (account disabled or removed, password changed or reset since, idle too
    long); the app logs the browser session out and shows this message on the log-in page."""
