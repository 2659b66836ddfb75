"""Immutable copies of rows that the service layer returns (no database session attached)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from vadcore.features import AlertRule


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    display_name: str
    is_active: bool
    # When this log-in happened (set by `authenticate`); a password changed after it ends the session.
    # None for a user read from the database, not logged in (lists, scripts).
    logged_in_at: datetime | None = None


@dataclass(frozen=True)
class LoginTicket:
    """A log-in just recorded (`Service.open_login_session`): its record, and the one-time code the browser
    trades for the session cookie (`Service.issue_session_token`) within LOGIN_HANDOFF_TTL."""

    session_id: int
    code: str


@dataclass(frozen=True)
class GroupInfo:
    id: int
    name: str
    kind: str
    keep_images: bool
    is_simulated: bool
    retention_days: int | None = None  # sessions older than this are purged; None keeps them all
    grade_min: float | None = None  # imported grades must lie in grade_min…grade_max (both set or neither)
    grade_max: float | None = None


@dataclass(frozen=True)
class SubjectInfo:
    id: int
    group_id: int
    code: str
    consent: str
    is_simulated: bool


@dataclass(frozen=True)
class SessionInfo:
    id: int
    group_id: int
    started_at: datetime
    context_note: str


@dataclass(frozen=True)
class PeriodInfo:
    id: int
    name: str
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class CaptureResult:
    capture_id: int
    reading_ids: tuple[int, ...]
    image_kept: bool  # the photo, or for a video its contact sheet of track thumbnails
    session_id: int  # the session the capture went into


@dataclass(frozen=True)
class ImportReport:
    """Outcome CSV import: rows written (or that would be, on a dry run) and rows refused."""

    imported: int
    problems: pd.DataFrame  # line, column, value, problem
    dry_run: bool


@dataclass(frozen=True)
class AlertRuleInfo:
    """A group's alert rule; `set_by` and `set_at` are None while the group uses the default rule."""

    group_id: int
    rule: AlertRule
    set_by: str | None  # the display name (else username) of who set it
    set_at: datetime | None

    @property
    def is_default(self) -> bool:
        return self.set_at is None


@dataclass(frozen=True)
class TimelineNoteInfo:
    id: int
    subject_id: int
    author: str  # display name, else username; "(removed account)" if the account is gone
    written_at: datetime
    text: str  # plain text as written: never render it as markdown or HTML


@dataclass(frozen=True)
class DeploymentInfo:
    """The installation's deployment record; `db.deployment.analysis_allowed` decides from it whether analysis
    may run. Organisation and contact are typed by an administrator: render them as text, never markdown."""

    organisation: str
    contact: str
    jurisdiction: str  # db.enums.JURISDICTIONS
    setting: str  # db.enums.DEPLOYMENT_SETTINGS
    purpose: str  # db.enums.DEPLOYMENT_PURPOSES
    protocol_ref: str  # the approved research protocol ("" when none)
    recorded_by: str  # display name (else username) of who recorded it; "(removed account)" if gone
    recorded_at: datetime


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered checkpoint and its check (`report`: vadcore.model_check.CheckReport.to_dict())."""

    id: int
    version: str
    path: str
    sha256: str
    registered_at: datetime
    registered_by: str  # display name (else username); "" for the automatic registration of the shipped model
    passed: bool
    is_active: bool
    activated_at: datetime | None
    activated_by: str
    report: dict

    @property
    def failed(self) -> list[str]:
        return list(self.report.get("failed", []))


@dataclass(frozen=True)
class ReferralInfo:
    """A subject referred to a psychologist. Names are display names (else usernames), "(removed account)" where
    the account is gone; codes and names are typed by people: render them as text, never markdown."""

    id: int
    subject_id: int
    subject_code: str
    group_id: int
    group_name: str
    consent: str  # the subject's consent now: a referral shows nothing unless it is "granted"
    psychologist_id: int
    psychologist: str
    referred_by: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AccessEntry:
    """One line of the access overview: a grant of a whole group (`via` "grant"), or a subject of that group
    referred to a psychologist (`via` "referral", with the subject and the referral's id)."""

    user_id: int
    username: str
    role: str
    user_active: bool
    group_id: int
    group_name: str
    via: str  # "grant" or "referral"
    since: datetime
    granted_by: str  # "" for a grant made before who granted was recorded
    subject_id: int | None = None
    subject_code: str | None = None
    referral_id: int | None = None


def view(cls, row):
    """A view dataclass filled from the same-named attributes of an ORM row."""
    return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})
