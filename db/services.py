"""The service layer: the only way the app reads or writes VAD Lens data.

    service = Service(make_engine())           # after db.init_db(engine)

Every call that acts for someone takes the acting user (`UserInfo`, from `authenticate`) first,
re-reads that account (a disabled or removed account, or a log-in older than the last password change,
is refused at once with `SessionEnded`), checks its role and group access here, not in the UI, and runs
in one transaction: a failure midway leaves nothing written. Reads run in a plain (deferred) transaction
and write their audit row right after it, before returning; writes are kept short (passwords are hashed
and files parsed before the write begins). Refusals raise `PermissionDenied` and leave a "denied" row in
the audit log; every access to subject data leaves an audit row too. Other errors: `NotFound`,
`InvalidInput` (rules such as consent or simulated-data separation), `MixedDataError`, `OutcomeCSVError`
(unreadable CSV), `StoreBusy` (the database stayed locked; nothing was written, try again),
`LoginThrottled` (too many failed log-ins).

Accounts
    needs_first_admin() -> bool
    create_first_admin(username, password, display_name="") -> UserInfo
    authenticate(username, password, client=None) -> UserInfo | None   (throttled per name and per client)
    check_session(actor, last_seen=None, login_session_id=None) -> UserInfo
                   (SessionEnded: disabled, password changed, log-in record ended or expired, idle)
    open_login_session(actor, user_agent=None) -> LoginTicket   (record id + one-time code; LOGIN_LIFETIME;
                   deletes records ended or expired over LOGIN_RECORDS_KEPT ago, audited "purge_login_sessions")
    issue_session_token(code) -> str | None   (the cookie's token, once; only its digest is stored)
    resume_login_session(token, user_agent=None) -> (UserInfo, record id) | None   (audited)
    end_login_session(actor, login_session_id) -> None   (log-out; audited)
    (disabling an account, resetting or changing its password ends all its log-in records)
    create_user(actor, username, password, role, display_name="") -> UserInfo          [admin]
    list_users(actor) -> list[UserInfo]                                                 [admin]
    set_password(actor, user_id, new_password) -> None                 [admin, for another user]
    change_password(actor, current_password, new_password) -> UserInfo                   [self]
    deactivate_user(actor, user_id) -> None                                             [admin]
    reactivate_user(actor, user_id) -> None                                             [admin]
Groups and periods
    create_group(actor, name, kind, keep_images=False, is_simulated=False) -> GroupInfo [admin]
    rename_group(actor, group_id, name) -> GroupInfo                                    [admin]
    grant_access(actor, user_id, group_id) / revoke_access(...) -> None                 [admin]
                   (any staff member to any group; recorded with who granted it and when)
    access_overview(actor) -> list[AccessEntry]  (grants and referrals in effect; audited)  [admin]
    list_groups(actor) -> list[GroupInfo]
    create_period(actor, name, starts_on, ends_on) -> PeriodInfo                        [admin]
    list_periods(actor) -> list[PeriodInfo]
    set_group_policy(actor, group_id, retention_days=, keep_images=None) -> GroupInfo   [admin]
    set_grade_range(actor, group_id, grade_min, grade_max) -> GroupInfo  (None, None clears)  [admin]
    delete_period(actor, period_id) -> dict (counts; with its outcomes)                [admin]
    delete_group(actor, group_id) -> dict (counts; with everything in it)              [admin]
    purge_expired(actor=None, now=None) -> dict (counts)  (sessions older than their group's retention_days)
Subjects
    create_subject(actor, group_id, code, consent="pending", is_simulated=False) -> SubjectInfo
    list_subjects(actor, group_id=None) -> list[SubjectInfo]
    set_consent(actor, subject_id, consent) -> SubjectInfo
    delete_subject(actor, subject_id) -> dict  (deletes their readings, outcomes and timeline notes too,
                                                and every kept photo they were read from)
Referrals (db.referrals: one subject record shown to one psychologist, never the rest of its group)
    list_psychologists(actor) -> list[UserInfo]                                  [teacher, admin]
    refer_subject(actor, subject_id, psychologist_id, same_code=False) -> list[ReferralInfo]
                   [teacher with access to the group, admin; consent "granted" only; audited]
    revoke_referral(actor, referral_id) -> ReferralInfo    [the referrer, the psychologist, admin; audited]
    list_referrals(actor, group_id=None) -> list[ReferralInfo]   (revoked ones too; audited)
    referred_to_me(actor) -> list[ReferralInfo]   (in effect: not revoked, consent granted; audited)
    (a referred subject's readings and timeline notes are open to the psychologist; withdrawing consent ends
    the subject's referrals; deleting the subject deletes them)
Sessions, captures, readings
    create_session(actor, group_id, started_at=None, context_note="") -> SessionInfo
    list_sessions(actor, group_id=None) -> list[SessionInfo]
    save_capture(actor, session_id, readings, assignments, checksum, source,
                 image_bytes=None, captured_at=None) -> CaptureResult
    save_video_session(actor, group_id, faces, assignments, checksum, context_note="",
                       started_at=None, thumbnails_png=None) -> CaptureResult
                       (a new session, its one "video" capture and every reading, track → subject)
    capture_image(actor, capture_id) -> bytes | None   (a photo, or a video's contact sheet)
    delete_capture(actor, capture_id) / delete_session(actor, session_id) -> dict (counts)   [admin]
    readings_frame(actor, group_id=None, session_id=None, subject_id=None,
                   start=None, end=None) -> pandas.DataFrame
                   (a video reading's captured_at is the capture's plus its frame_time_s; a subject's
                   readings only while their consent is "granted": withdrawn hides them)
    export_readings_csv(actor, **same filters) -> str
    reassign_reading(actor, reading_id, subject_id) -> int   (to a consented subject of its group, or None:
                   anonymous; a video reading moves with its track; anyone with access to the group; audited)
    delete_reading(actor, reading_id) -> None   (one reading; anyone with access to the group; audited with
                   its old values)
Timelines                                                                     [admin, psychologist]
    alert_rule(actor, group_id) -> AlertRuleInfo          (the default rule while none was set)
    set_alert_rule(actor, group_id, rule) -> AlertRuleInfo       (replaces the group's rule; audited)
    add_timeline_note(actor, subject_id, text) -> TimelineNoteInfo  (plain text, 1–2,000 characters)
    timeline_notes(actor, subject_id) -> list[TimelineNoteInfo]     (oldest first; the read is audited)
Outcomes and prediction
    import_outcomes(actor, group_id, csv_source, grade_range=None, dry_run=False) -> ImportReport
    outcomes_frame(actor, group_id) -> pandas.DataFrame
    training_data(actor, group_ids) -> pandas.DataFrame   (features + outcomes; never mixed; consenting
                                                           subjects only)
Administration
    audit_log(actor, limit=500, *, username=, action=, object_type=, since=, until=, zone=) -> pandas.DataFrame
                                                     [admin; days in `zone` (UTC), both included; audited]
    audit_vocabulary(actor) -> dict (user names, actions, object types in the log)      [admin]
    database_size(actor) -> int (bytes)                                                 [admin]
Deployment (the law; the rule is db.deployment.analysis_allowed)
    deployment(actor) -> DeploymentInfo | None
    analysis_verdict(actor) -> Verdict       (save_capture and save_video_session refuse while not allowed)
    record_deployment(actor, organisation, contact, jurisdiction, setting, purpose,
                      protocol_ref="") -> DeploymentInfo                        [admin; replaces the record]
    processing_record(actor) -> dict   (JSON-ready, to start a DPIA)                    [admin]
    notice_sheet(actor, group_id) -> str   (Markdown notice and consent sheet of a group)
Models (a checkpoint serves readings only once it passed vadcore.model_check and was activated)
    register_model(actor, path) -> ModelVersionInfo   (sha256 and check report stored; audited)     [admin]
    list_models(actor) -> list[ModelVersionInfo]                                        [admin]
    activate_model(actor, model_id) -> ModelVersionInfo  (refused, naming the failed checks, unless it passed;
                                                          exactly one active; audited)             [admin]
    rollback_model(actor) -> ModelVersionInfo   (the previously active one; audited)                [admin]
    active_model(actor=None) -> ModelVersionInfo | None   (registers the configured and the shipped checkpoint
                                                           when first seen; activates one while none is)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import re
import threading
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import pandas as pd
from sqlalchemy import ColumnElement, CursorResult, Engine, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import referrals
from db.access import (
    require_admin,
    require_capture,
    require_group,
    require_meeting,
    require_referrer,
    require_subject,
    require_timeline_role,
    restrict_to_visible,
)
from db.deployment import Verdict, analysis_allowed, model_in_use, notice_sheet
from db.engine import session_factory, transaction
from db.enums import (
    CAPTURE_SOURCES,
    CONSENT_STATUSES,
    DEPLOYMENT_PURPOSES,
    DEPLOYMENT_SETTINGS,
    DISPLAY_NAME_MAX_CHARS,
    GROUP_KINDS,
    GROUP_NAME_MAX_CHARS,
    JURISDICTIONS,
    PERIOD_NAME_MAX_CHARS,
    RETENTION_DAYS_MAX,
    ROLES,
    SUBJECT_CODE_MAX_CHARS,
    TIMELINE_NOTE_MAX_CHARS,
)
from db.errors import InvalidInput, LoginThrottled, NotFound, PermissionDenied, SessionEnded
from db.models import (
    PROBABILITY_COLUMNS,
    AlertRuleSetting,
    AuditEntry,
    Base,
    Capture,
    Deployment,
    Group,
    GroupAccess,
    LoginSession,
    Meeting,
    ModelVersion,
    Outcome,
    Period,
    Reading,
    Referral,
    Subject,
    TimelineNote,
    User,
    utcnow,
)
from db.referrals import person_name as _name
from db.security import hash_password, needs_rehash, verify_password
from db.session_tokens import digest, new_token
from db.views import (
    AccessEntry,
    AlertRuleInfo,
    CaptureResult,
    DeploymentInfo,
    GroupInfo,
    ImportReport,
    LoginTicket,
    ModelVersionInfo,
    PeriodInfo,
    ReferralInfo,
    SessionInfo,
    SubjectInfo,
    TimelineNoteInfo,
    UserInfo,
    view,
)
from vadcore.csv_safety import to_csv as safe_csv
from vadcore.features import DEFAULT_ALERT_RULE, AlertRule, PeriodSpan, subject_period_features
from vadcore.local_days import day_bounds, zone_name
from vadcore.outcomes import MixedDataError, OutcomeCSVError, read_outcomes_csv, training_table
from vadcore.quality import FLAGS as QUALITY_FLAGS
from vadcore.readings import FaceReading
from vadcore.settings import SHIPPED_CHECKPOINT, get_settings
from vadcore.taxonomy import CLASS_NAMES, EXPORT_COLUMNS, VAD_DIMS

if TYPE_CHECKING:  # the service reads only their fields; importing vadcore.video would load PyAV
    from vadcore.video import VideoFace

__all__ = ["Service", "PermissionDenied", "NotFound", "InvalidInput", "MixedDataError", "OutcomeCSVError"]

logger = logging.getLogger(__name__)

_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The date filters of `readings_frame` select video readings by capture start and frame time; a video is
# assumed to be shorter than this, so that the database can narrow the rows before the exact filter.
MAX_VIDEO_SPAN = timedelta(hours=24)
# Where a read-only unit collects its audit rows (Session.info), to write them once the read is done.
_PENDING_AUDIT = "vadlens_pending_audit"
# Log-in throttling. Per account: after LOCK_AFTER wrong passwords in a row, log-ins wait LOCK_FIRST, doubling
# with every further failure up to LOCK_MAX (unknown usernames are counted the same way, in memory, so that a
# lock says nothing about whether the account exists). Per client: CLIENT_MAX_FAILURES in CLIENT_WINDOW.
LOCK_AFTER = 5
LOCK_FIRST = timedelta(minutes=2)
LOCK_MAX = timedelta(hours=1)
CLIENT_MAX_FAILURES = 20
CLIENT_WINDOW = timedelta(minutes=10)
_UNKNOWN_NAMES_KEPT = 10_000  # bound on the in-memory failure counts of unknown usernames
# Log-in sessions (the record behind the session cookie): a log-in lasts at most LOGIN_LIFETIME (a school day and
# then some), the browser has LOGIN_HANDOFF_TTL to trade its one-time code for the cookie, and a session's last
# step is written at most every LAST_SEEN_STEP (the idle timeout counts minutes; a write per click would not pay).
LOGIN_LIFETIME = timedelta(hours=12)
LOGIN_HANDOFF_TTL = timedelta(minutes=2)
LAST_SEEN_STEP = timedelta(minutes=1)
# A log-in record ended or expired longer ago than this is deleted at the next log-in (in its transaction): no
# use is left in it, and the audit log keeps the log-in, its resumptions and its end. Records are only made at
# log-in, so purging there bounds the table.
LOGIN_RECORDS_KEPT = timedelta(days=30)
# Serialises the creation of the first administrator and of periods on PostgreSQL (SQLite's BEGIN IMMEDIATE
# already does): keys of pg_advisory_xact_lock.
_LOCK_FIRST_ADMIN = 0x7661_6401
_LOCK_PERIODS = 0x7661_6402


class Service:
    """VAD Lens operations on one database; safe to share between threads (one transaction
    per call)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = session_factory(engine)
        # The moment log-in throttling and session checks go by; tests move it forward.
        self.clock: Callable[[], datetime] = utcnow
        # In-process log-in throttling state (one server process serves the app): failures per client, and
        # per unknown username (known accounts keep theirs in the users table).
        self._throttle_lock = threading.Lock()
        self._client_failures: dict[str, deque[datetime]] = {}
        self._unknown_names: dict[str, tuple[int, datetime | None]] = {}

    # ---------------------------------------------------------------- plumbing

    @contextmanager
    def _unit(self, actor: UserInfo, *, write: bool = True) -> Iterator[tuple[Session, User]]:
        """One transaction acting as `actor`, re-read from the database (refused if disabled since).

        `write=False` for a call that only reads: a plain transaction that never waits for writers. Its audit
        rows (`_audit`) are written after it, in a short write transaction of their own, before the call
        returns: no data leaves the service unless its audit row is committed.
        """
        with self._refusals_audited(actor):
            if write:
                with transaction(self._sessions) as s:
                    yield s, self._load_actor(s, actor)
                return
            pending: list[AuditEntry] = []
            with transaction(self._sessions, write=False) as s:
                s.info[_PENDING_AUDIT] = pending
                yield s, self._load_actor(s, actor)
            if pending:
                with transaction(self._sessions) as w:
                    w.add_all(pending)

    @contextmanager
    def _refusals_audited(self, actor: UserInfo | None) -> Iterator[None]:
        """A refusal inside the block is audited in a transaction of its own (the block's is rolled back)."""
        try:
            yield
        except PermissionDenied as exc:
            with transaction(self._sessions) as s:
                # A removed account cannot be referred to any more; its name is kept in the row.
                row = s.get(User, actor.id) if actor is not None else None
                who = actor if actor is None or (row is not None and row.username == actor.username) else None
                detail = str(exc) if who is actor else f"{actor.username if actor else ''}: {exc}"
                self._audit(s, who, "denied", detail=detail)
            raise

    @staticmethod
    def _load_actor(s: Session, actor: UserInfo) -> User:
        user = s.get(User, actor.id)
        # A different name under the same id: the account was removed and the number reused (a restored or
        # recreated database); the log-in was someone else's.
        if user is None or not user.is_active or user.username != actor.username:
            raise SessionEnded(f"account {actor.username!r} is disabled or removed")
        changed = user.credentials_changed_at
        if actor.logged_in_at is not None and changed is not None and changed > actor.logged_in_at:
            raise SessionEnded("the password of this account was changed since you logged in; please log in again")
        return user

    @staticmethod
    def _audit(
        s: Session,
        actor: UserInfo | User | None,
        action: str,
        object_type: str = "",
        object_id: int | None = None,
        detail: str = "",
    ) -> None:
        entry = AuditEntry(
            user_id=actor.id if actor else None,
            username=actor.username if actor else "",
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
            at=utcnow(),
        )
        pending = s.info.get(_PENDING_AUDIT)
        if pending is not None:  # a read-only unit: written by `_unit` right after the read
            pending.append(entry)
        else:
            s.add(entry)

    # ---------------------------------------------------------------- accounts

    def needs_first_admin(self) -> bool:
        """True while no active administrator exists (the app then asks to run create_admin)."""
        with transaction(self._sessions, write=False) as s:
            return s.scalar(select(func.count()).where(User.role == "admin", User.is_active)) == 0

    def create_first_admin(self, username: str, password: str, display_name: str = "") -> UserInfo:
        """Create the first administrator; refused once one exists. Of several simultaneous requests exactly one
        succeeds (SQLite's write lock, PostgreSQL's advisory lock). The returned user counts as logged in."""
        username = _checked_username(username)
        password_hash = self._hashed(password)  # before the write lock: hashing takes a while
        with self._refusals_audited(None), transaction(self._sessions) as s:
            _serialise(s, _LOCK_FIRST_ADMIN)
            if s.scalar(select(func.count()).where(User.role == "admin", User.is_active)):
                raise PermissionDenied("an administrator already exists; ask them for an account")
            user = self._new_user(s, username, password_hash, "admin", display_name)
            self._audit(s, user, "create_first_admin", "user", user.id)
            return _user_info(user, logged_in_at=self.clock())

    def authenticate(self, username: str, password: str, client: str | None = None) -> UserInfo | None:
        """The user, stamped with the log-in moment, if the password matches an active account; else None.
        Audited either way.

        Raises `LoginThrottled` while the account name (LOCK_AFTER wrong passwords in a row, known or not: the
        answer is the same) or `client` (e.g. the browser's IP address; CLIENT_MAX_FAILURES in CLIENT_WINDOW)
        is locked out. The password is checked outside any transaction; only the audit row and the counters
        are written, in a short one."""
        now = self.clock()
        detail = f"username={username[:64]!r}" + (f" client={client}" if client else "")
        with transaction(self._sessions, write=False) as s:
            row = s.execute(
                select(User.id, User.password_hash, User.locked_until).where(User.username == username)
            ).first()
        locked_until = self._unknown_name_lock(username) if row is None else row.locked_until
        wait = max(self._client_wait(client, now), (locked_until - now) if locked_until is not None else timedelta(0))
        if wait > timedelta(0):
            # Logged, not audited: a refused attempt writes nothing, so a flood of them cannot load the
            # database (the failure that set the lock is audited with it).
            logger.warning("log-in throttled: %s", detail)
            raise LoginThrottled(math.ceil(wait.total_seconds() / 60))

        ok = verify_password(row.password_hash if row else None, password)  # the dummy hash when unknown
        new_hash = hash_password(password) if ok and row and needs_rehash(row.password_hash) else None
        with transaction(self._sessions) as s:
            user = s.get(User, row.id, with_for_update=True) if row else None
            # A password changed between the check and now: the check went against the old one.
            if row is None or user is None or not ok or not user.is_active or user.password_hash != row.password_hash:
                locked_until = self._count_failure(user, username, client, now)
                if locked_until is not None:
                    detail += f" locked_until={locked_until:%Y-%m-%dT%H:%M:%SZ}"
                self._audit(s, None, "login_failed", detail=detail)
                return None
            user.failed_logins, user.locked_until = 0, None
            if new_hash is not None:
                user.password_hash = new_hash
            self._audit(s, user, "login", "user", user.id, f"client={client}" if client else "")
            return _user_info(user, logged_in_at=now)

    def check_session(
        self, actor: UserInfo, last_seen: datetime | None = None, login_session_id: int | None = None
    ) -> UserInfo:
        """Whether a log-in still counts, asked on every step of the app: raises `SessionEnded` (with a message
        for the person) when the account was disabled or removed, its password changed or reset since the
        log-in, the log-in record (`login_session_id`, from `open_login_session`) was ended, revoked or expired,
        or the session was idle (no step since `last_seen`, or without it since the record's last step) longer
        than VADLENS_IDLE_MINUTES; the record is then ended and the end audited. Returns the account as stored now
        (role and name), with the log-in moment kept."""
        now = self.clock()
        seen_at: datetime | None = None
        try:
            with transaction(self._sessions, write=False) as s:
                user = self._load_actor(s, actor)
                current = _user_info(user, logged_in_at=actor.logged_in_at)
                if login_session_id is not None:
                    seen_at = self._live_login(s, login_session_id, actor.id, now).last_seen_at
            idle = timedelta(minutes=get_settings().idle_minutes)
            # This browser session's last step; a resumed one (a reload) goes by the record's.
            latest = last_seen if last_seen is not None else seen_at
            if latest is not None and now - latest > idle:
                minutes = int(idle.total_seconds() // 60)
                raise SessionEnded(f"you were logged out after {minutes} minutes without activity")
        except SessionEnded as exc:
            with transaction(self._sessions) as s:
                row = s.get(User, actor.id)
                same = row is not None and row.username == actor.username  # else removed: name it in the row
                detail = str(exc) if same else f"{actor.username}: {exc}"
                self._audit(s, actor if same else None, "session_ended", "user", actor.id, detail)
                if login_session_id is not None:
                    _end_logins(s, now, "ended", LoginSession.id == login_session_id)
            raise
        if seen_at is not None and now - seen_at >= LAST_SEEN_STEP:
            with transaction(self._sessions) as s:
                s.execute(update(LoginSession).where(LoginSession.id == login_session_id).values(last_seen_at=now))
        return current

    # ---------------------------------------------------------------- log-in sessions (the session cookie)

    def open_login_session(self, actor: UserInfo, user_agent: str | None = None) -> LoginTicket:
        """Record the log-in `actor` (just returned by `authenticate`, `create_first_admin` or
        `change_password`) as a server-side session lasting at most LOGIN_LIFETIME, and return its id with a
        one-time code for `issue_session_token`. `user_agent` (the browser's, if known) binds the session to it.
        Deletes every account's records that ended or expired more than LOGIN_RECORDS_KEPT ago; one audit row
        "purge_login_sessions" (by the system) with the count when any went."""
        now = self.clock()
        code = new_token()
        with self._unit(actor) as (s, me):
            cutoff = now - LOGIN_RECORDS_KEPT
            purged = _delete(s, LoginSession, or_(LoginSession.ended_at < cutoff, LoginSession.expires_at < cutoff))
            if purged:
                days = LOGIN_RECORDS_KEPT.days
                self._audit(
                    s, None, "purge_login_sessions", "", None, f"login_sessions={purged} older_than_days={days}"
                )
            row = LoginSession(
                user_id=me.id,
                handoff_hash=digest(code),
                user_agent_hash=digest(user_agent) if user_agent else None,
                created_at=actor.logged_in_at or now,
                last_seen_at=now,
                expires_at=(actor.logged_in_at or now) + LOGIN_LIFETIME,
                end_reason="",
            )
            s.add(row)
            s.flush()
            return LoginTicket(row.id, code)

    def issue_session_token(self, code: str) -> str | None:
        """Trade a log-in's one-time code for the token of its session cookie: once, within LOGIN_HANDOFF_TTL of
        the log-in, while the log-in counts. Only the token's digest is kept; None when the code is unknown,
        used, too old or its log-in has ended."""
        now = self.clock()
        with transaction(self._sessions) as s:
            row = s.scalar(select(LoginSession).where(LoginSession.handoff_hash == digest(code)))
            if row is None:
                return None
            row.handoff_hash = None  # used or stale: never again
            if row.ended_at is not None or now - row.created_at > LOGIN_HANDOFF_TTL or now >= row.expires_at:
                return None
            token = new_token()
            row.token_hash = digest(token)
            return token

    def resume_login_session(self, token: str, user_agent: str | None = None) -> tuple[UserInfo, int] | None:
        """The log-in a session cookie's token names (a reload, a bookmark, a new tab), checked as every step is
        (`check_session`, which raises `SessionEnded` and ends the record when it no longer counts), and its
        record id; the resumption is audited. None, unaudited, for a token that names no open log-in (never
        issued, or ended already: its end was audited then)."""
        with transaction(self._sessions, write=False) as s:
            row = s.scalar(select(LoginSession).where(LoginSession.token_hash == digest(token)))
            if row is None or row.ended_at is not None:
                return None
            user = s.get(User, row.user_id)
            if user is None:
                return None
            actor = _user_info(user, logged_in_at=row.created_at)
            session_id, agent = row.id, row.user_agent_hash
        if agent is not None and user_agent is not None and digest(user_agent) != agent:
            # The cookie came with another browser than the one that logged in: treat it as stolen.
            with transaction(self._sessions) as s:
                _end_logins(s, self.clock(), "other browser", LoginSession.id == session_id)
                self._audit(s, actor, "session_ended", "user", actor.id, "session cookie sent by another browser")
            return None
        current = self.check_session(actor, login_session_id=session_id)
        with transaction(self._sessions) as s:
            self._audit(s, current, "session_resumed", "user", current.id, f"login_session={session_id}")
        return current, session_id

    def end_login_session(self, actor: UserInfo, login_session_id: int) -> None:
        """Log out: the record ends, so its cookie no longer opens anything (wherever a copy of it is)."""
        with transaction(self._sessions) as s:
            ended = _end_logins(
                s, self.clock(), "logout", LoginSession.id == login_session_id, LoginSession.user_id == actor.id
            )
            self._audit(s, actor, "logout", "user", actor.id, f"login_session={login_session_id}" if ended else "")

    @staticmethod
    def _live_login(s: Session, login_session_id: int, user_id: int, now: datetime) -> LoginSession:
        """The open log-in record, or `SessionEnded` saying why it no longer counts."""
        row = s.get(LoginSession, login_session_id)
        if row is None or row.user_id != user_id or row.ended_at is not None:
            raise SessionEnded("this log-in was ended (logged out, or revoked by an administrator)")
        if now >= row.expires_at:
            hours = int(LOGIN_LIFETIME.total_seconds() // 3600)
            raise SessionEnded(f"a log-in lasts at most {hours} hours; please log in again")
        return row

    def _client_wait(self, client: str | None, now: datetime) -> timedelta:
        """How long `client` must wait before its next log-in attempt (zero: it may try now)."""
        if not client:
            return timedelta(0)
        with self._throttle_lock:
            failures = self._client_failures.get(client)
            if failures is None:
                return timedelta(0)
            while failures and failures[0] <= now - CLIENT_WINDOW:
                failures.popleft()
            if len(failures) < CLIENT_MAX_FAILURES:
                return timedelta(0)
            return failures[0] + CLIENT_WINDOW - now

    def _unknown_name_lock(self, username: str) -> datetime | None:
        with self._throttle_lock:
            return self._unknown_names.get(username, (0, None))[1]

    def _count_failure(self, user: User | None, username: str, client: str | None, now: datetime) -> datetime | None:
        """One more wrong password: for the account (stored), the unknown name (in memory) and the client.
        Returns until when this failure locks the account name (None: it does not)."""
        lock: datetime | None = None
        if user is not None:
            user.failed_logins = (user.failed_logins or 0) + 1
            lock = _lock_until(user.failed_logins, now)
            user.locked_until = lock or user.locked_until
        with self._throttle_lock:
            if user is None:
                if len(self._unknown_names) >= _UNKNOWN_NAMES_KEPT:
                    self._unknown_names.clear()  # a flood of invented names; their counts start again
                count = self._unknown_names.get(username, (0, None))[0] + 1
                lock = _lock_until(count, now)
                self._unknown_names[username] = (count, lock)
            if client:
                if client not in self._client_failures and len(self._client_failures) >= _UNKNOWN_NAMES_KEPT:
                    stale = [c for c, f in self._client_failures.items() if not f or f[-1] <= now - CLIENT_WINDOW]
                    for c in stale:
                        del self._client_failures[c]
                self._client_failures.setdefault(client, deque()).append(now)
        return lock

    def create_user(self, actor: UserInfo, username: str, password: str, role: str, display_name: str = "") -> UserInfo:
        username = _checked_username(username)
        password_hash = self._hashed(password)  # outside the write transaction
        with self._unit(actor) as (s, me):
            require_admin(me)
            user = self._new_user(s, username, password_hash, role, display_name)
            self._audit(s, me, "create_user", "user", user.id, f"role={role}")
            return _user_info(user)

    def list_users(self, actor: UserInfo) -> list[UserInfo]:
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            return [_user_info(u) for u in s.scalars(select(User).order_by(User.username))]

    def set_password(self, actor: UserInfo, user_id: int, new_password: str) -> None:
        """An administrator resets another account's password (one's own: `change_password`); the account's
        open sessions end at their next step, and a lock-out from wrong passwords is lifted."""
        password_hash = self._hashed(new_password)  # outside the write transaction
        with self._unit(actor) as (s, me):
            require_admin(me)
            if me.id == user_id:
                raise InvalidInput("change your own password on the My account page; it asks for the current one")
            user = self._get(s, User, user_id)
            user.password_hash = password_hash
            user.credentials_changed_at = self.clock()
            user.failed_logins, user.locked_until = 0, None
            ended = _end_logins(s, self.clock(), "password reset", LoginSession.user_id == user_id)
            self._audit(s, me, "set_password", "user", user_id, f"sessions_ended={ended}")

    def change_password(self, actor: UserInfo, current_password: str, new_password: str) -> UserInfo:
        """Change one's own password; refused unless `current_password` is right (so an unattended
        logged-in browser cannot take the account over). Other sessions of the account end at their next step;
        the returned user (stamped with the change) keeps this one going. Wrong current passwords count towards
        the account's log-in lock, like wrong log-ins (else an unattended browser could be used to guess)."""
        now = self.clock()
        with self._unit(actor, write=False) as (_, me):
            old_hash, locked_until = me.password_hash, me.locked_until
        if locked_until is not None and locked_until > now:
            raise LoginThrottled(math.ceil((locked_until - now).total_seconds() / 60))
        if not verify_password(old_hash, current_password):  # outside any transaction
            with self._unit(actor) as (s, me):
                me = s.get(User, me.id, with_for_update=True, populate_existing=True) or me  # the current count
                lock = self._count_failure(me, me.username, None, now)
                detail = f"locked_until={lock:%Y-%m-%dT%H:%M:%SZ}" if lock else ""
                self._audit(s, me, "change_password_refused", "user", me.id, detail)
            raise InvalidInput("the current password is wrong; the password was not changed")
        password_hash = self._hashed(new_password)
        with self._unit(actor) as (s, me):
            if me.password_hash != old_hash:
                raise InvalidInput("the password was changed meanwhile; it was not changed again")
            changed = self.clock()
            me.password_hash, me.credentials_changed_at = password_hash, changed
            # Every log-in of the account ends, this one too: the page opens a new one for the returned user.
            ended = _end_logins(s, changed, "password changed", LoginSession.user_id == me.id)
            self._audit(s, me, "change_password", "user", me.id, f"sessions_ended={ended}")
            return _user_info(me, logged_in_at=changed)

    def deactivate_user(self, actor: UserInfo, user_id: int) -> None:
        """Disable an account (kept for the audit trail); its sessions are refused at once."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            if me.id == user_id:
                raise InvalidInput("you cannot disable your own account")
            self._get(s, User, user_id).is_active = False
            ended = _end_logins(s, self.clock(), "account disabled", LoginSession.user_id == user_id)
            self._audit(s, me, "deactivate_user", "user", user_id, f"sessions_ended={ended}")

    def reactivate_user(self, actor: UserInfo, user_id: int) -> None:
        """Re-enable a disabled account; its password stays as it was (reset it with `set_password` if it
        may be known to someone else) and its earlier grants apply again."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            user = self._get(s, User, user_id)
            if user.is_active:
                raise InvalidInput(f"account {user.username!r} is not disabled")
            user.is_active = True
            user.failed_logins, user.locked_until = 0, None  # a fresh start, not a lock carried over
            self._audit(s, me, "reactivate_user", "user", user_id)

    def _new_user(self, s: Session, username: str, password_hash: str, role: str, display_name: str) -> User:
        """Insert an account (`username` already checked, the password already hashed)."""
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {ROLES}")
        _check_length(display_name, "a display name", DISPLAY_NAME_MAX_CHARS)
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise InvalidInput(f"username {username!r} is taken")
        user = User(
            username=username,
            role=role,
            display_name=display_name,
            password_hash=password_hash,
            is_active=True,
        )
        s.add(user)
        _flush_unique(s, f"username {username!r} is taken")  # another request took it meanwhile (PostgreSQL)
        return user

    @staticmethod
    def _hashed(password: str) -> str:
        try:
            return hash_password(password)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc

    @staticmethod
    def _get(s: Session, model, object_id: int):
        row = s.get(model, object_id)
        if row is None:
            raise NotFound(f"{model.__tablename__} {object_id} does not exist")
        return row

    # ---------------------------------------------------------------- groups and periods

    def create_group(
        self, actor: UserInfo, name: str, kind: str, keep_images: bool = False, is_simulated: bool = False
    ) -> GroupInfo:
        """A class (kind='class') or a caseload (kind='caseload'); `keep_images` is the photo
        policy; `is_simulated` marks demo data, which never mixes with real groups."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            if kind not in GROUP_KINDS:
                raise InvalidInput(f"kind must be one of {GROUP_KINDS}")
            if not name.strip():
                raise InvalidInput("a group needs a name")
            _check_length(name.strip(), "a group name", GROUP_NAME_MAX_CHARS)
            if s.scalar(select(Group.id).where(Group.name == name.strip())) is not None:
                raise InvalidInput(f"group {name!r} exists")
            group = Group(name=name.strip(), kind=kind, keep_images=keep_images, is_simulated=is_simulated)
            s.add(group)
            _flush_unique(s, f"group {name!r} exists")  # created by another request meanwhile (PostgreSQL)
            self._audit(s, me, "create_group", "group", group.id, f"kind={kind} simulated={is_simulated}")
            return view(GroupInfo, group)

    def rename_group(self, actor: UserInfo, group_id: int, name: str) -> GroupInfo:
        """Give a group a new name (its subjects, sessions, grants and policy stay); names are unique."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            group = self._get(s, Group, group_id)
            new_name = name.strip()
            if not new_name:
                raise InvalidInput("a group needs a name")
            _check_length(new_name, "a group name", GROUP_NAME_MAX_CHARS)
            if s.scalar(select(Group.id).where(Group.name == new_name, Group.id != group_id)) is not None:
                raise InvalidInput(f"group {new_name!r} exists")
            old_name, group.name = group.name, new_name
            _flush_unique(s, f"group {new_name!r} exists")  # taken by another request meanwhile (PostgreSQL)
            self._audit(s, me, "rename_group", "group", group_id, f"from={old_name!r} to={new_name!r}")
            return view(GroupInfo, group)

    def grant_access(self, actor: UserInfo, user_id: int, group_id: int) -> None:
        """Let a staff member (teacher or psychologist) see a group, of either kind: a psychologist may follow a
        class, a teacher a caseload. Recorded with who granted it and when; granting it again is refused (the
        first grant, with its date, stays). Administrators see every group and are given none."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            user = self._get(s, User, user_id)
            group = self._get(s, Group, group_id)
            if user.role == "admin":
                raise InvalidInput(f"{user.username} is an administrator and sees every group already")
            if s.get(GroupAccess, (user_id, group_id)) is not None:
                raise InvalidInput(f"{user.username} has access to {group.name!r} already")
            s.add(GroupAccess(user_id=user_id, group_id=group_id, granted_at=utcnow(), granted_by=me.id))
            self._audit(s, me, "grant_access", "group", group_id, f"user={user.username}")

    def revoke_access(self, actor: UserInfo, user_id: int, group_id: int) -> None:
        with self._unit(actor) as (s, me):
            require_admin(me)
            s.execute(delete(GroupAccess).where(GroupAccess.user_id == user_id, GroupAccess.group_id == group_id))
            self._audit(s, me, "revoke_access", "group", group_id, f"user_id={user_id}")

    def access_overview(self, actor: UserInfo) -> list[AccessEntry]:
        """Who sees what: each grant (user, role, group, since, granted by) and each referral in effect (the
        psychologist, the subject and its group, since, referred by), by username. Administrators only; the read
        is audited, since it names referred subjects."""
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            entries = referrals.access_entries(s)
            n_referrals = sum(e.via == "referral" for e in entries)
            detail = f"grants={len(entries) - n_referrals} referrals={n_referrals}"
            self._audit(s, me, "view_access_overview", detail=detail)
            return entries

    # ---------------------------------------------------------------- referrals (db.referrals)

    def list_psychologists(self, actor: UserInfo) -> list[UserInfo]:
        """The active psychologists a subject may be referred to (for teachers and administrators)."""
        with self._unit(actor, write=False) as (s, me):
            require_referrer(me)
            stmt = select(User).where(User.role == "psychologist", User.is_active).order_by(User.username)
            return [_user_info(u) for u in s.scalars(stmt)]

    def refer_subject(
        self, actor: UserInfo, subject_id: int, psychologist_id: int, *, same_code: bool = False
    ) -> list[ReferralInfo]:
        """Refer a consenting subject to a psychologist, who then sees that subject's readings and timeline notes
        (Timelines, "Referred to me"), never the rest of its group. A teacher with access to the subject's group
        or an administrator; refused unless consent is "granted". With `same_code`, the consenting records with
        the same code in the other groups the referrer may see are referred too, each as a referral of its own
        (db.referrals says why this is opt-in). Audited per referral ("refer_subject"). Returns those made."""
        with self._unit(actor) as (s, me):
            require_referrer(me)
            subject = require_subject(s, me, subject_id)
            psychologist = self._get(s, User, psychologist_id)
            made = referrals.create(s, me, subject, psychologist, same_code=same_code)
            # Another request may have opened the same referral since the check (PostgreSQL; SQLite serialises).
            _flush_unique(s, referrals.already_referred(subject, psychologist))
            for row in made:
                detail = f"referral={row.id} psychologist={psychologist.username}"
                self._audit(s, me, "refer_subject", "subject", row.subject_id, detail)
            return referrals.referrals(s, Referral.id.in_([row.id for row in made]))

    def revoke_referral(self, actor: UserInfo, referral_id: int) -> ReferralInfo:
        """End a referral: the psychologist no longer sees the subject through it (the row stays, revoked, as
        the subject's history). The referrer, the psychologist or an administrator; audited."""
        with self._unit(actor) as (s, me):
            row = s.get(Referral, referral_id)
            if row is None:
                raise NotFound(f"referral {referral_id} does not exist")
            if me.role != "admin" and me.id not in (row.referred_by, row.psychologist_id):
                raise PermissionDenied(f"{me.username} may not revoke referral #{referral_id}")
            if not referrals.end(s, me, referral_id=referral_id):
                raise InvalidInput(f"referral #{referral_id} was revoked already")
            self._audit(s, me, "revoke_referral", "subject", row.subject_id, f"referral={referral_id}")
            return referrals.referrals(s, Referral.id == referral_id)[0]

    def list_referrals(self, actor: UserInfo, group_id: int | None = None) -> list[ReferralInfo]:
        """Referrals, revoked ones included, oldest first: of the subjects in `group_id` (or every group `actor`
        may see), and for a psychologist also those made to them. Audited, as a list of subjects is."""
        with self._unit(actor, write=False) as (s, me):
            where: list[ColumnElement[bool]] = []
            if group_id is not None:
                require_group(s, me, group_id)
                where.append(Subject.group_id == group_id)
            elif me.role != "admin":
                visible = select(GroupAccess.group_id).where(GroupAccess.user_id == me.id)
                where.append(Subject.group_id.in_(visible) | (Referral.psychologist_id == me.id))
            found = referrals.referrals(s, *where)
            self._audit(s, me, "list_referrals", "group", group_id, f"{len(found)} referrals")
            return found

    def referred_to_me(self, actor: UserInfo) -> list[ReferralInfo]:
        """The referrals in effect for `actor` (a psychologist): not revoked, consent granted; one per subject
        record, oldest first. Audited."""
        with self._unit(actor, write=False) as (s, me):
            found = referrals.referrals(
                s, Referral.psychologist_id == me.id, Referral.revoked_at.is_(None), Subject.consent == "granted"
            )
            self._audit(s, me, "list_referrals", "user", me.id, f"{len(found)} referrals to me")
            return found

    def list_groups(self, actor: UserInfo) -> list[GroupInfo]:
        with self._unit(actor, write=False) as (s, me):
            stmt = restrict_to_visible(select(Group).order_by(Group.name), me, Group.id)
            return [view(GroupInfo, g) for g in s.scalars(stmt)]

    def create_period(self, actor: UserInfo, name: str, starts_on: date, ends_on: date) -> PeriodInfo:
        """A named period (a term, a quarter; `ends_on` exclusive) that outcomes refer to."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            try:
                PeriodSpan(name, starts_on, ends_on)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
            _check_length(name, "a period name", PERIOD_NAME_MAX_CHARS)
            _serialise(s, _LOCK_PERIODS)  # else two overlapping periods could both pass the check (PostgreSQL)
            overlapping = s.scalar(select(Period.name).where(Period.starts_on < ends_on, Period.ends_on > starts_on))
            if overlapping is not None:
                raise InvalidInput(f"period overlaps {overlapping!r}")
            if s.scalar(select(Period.id).where(Period.name == name)) is not None:
                raise InvalidInput(f"period {name!r} exists")
            period = Period(name=name, starts_on=starts_on, ends_on=ends_on)
            s.add(period)
            _flush_unique(s, f"period {name!r} exists")
            self._audit(s, me, "create_period", "period", period.id, name)
            return view(PeriodInfo, period)

    def list_periods(self, actor: UserInfo) -> list[PeriodInfo]:
        with self._unit(actor, write=False) as (s, _):
            return [view(PeriodInfo, p) for p in s.scalars(select(Period).order_by(Period.starts_on))]

    def set_group_policy(
        self, actor: UserInfo, group_id: int, *, retention_days: int | None, keep_images: bool | None = None
    ) -> GroupInfo:
        """Set a group's retention: sessions (with their captures, kept photos and readings) that started more
        than `retention_days` days ago are deleted by `purge_expired`; None keeps them all. `keep_images`, unless
        None, sets the photo policy for new captures (photos kept before stay until their session, subject or
        group is deleted). Administrators only; audited with the values before and after."""
        if retention_days is not None:
            if isinstance(retention_days, bool) or not isinstance(retention_days, numbers.Integral):
                raise InvalidInput("retention is a whole number of days, or none")
            retention_days = int(retention_days)
            if not 1 <= retention_days <= RETENTION_DAYS_MAX:
                raise InvalidInput(f"retention must lie between 1 and {RETENTION_DAYS_MAX:,} days, or be none")
        with self._unit(actor) as (s, me):
            require_admin(me)
            group = self._get(s, Group, group_id)
            before = f"retention_days={group.retention_days} keep_images={group.keep_images}"
            group.retention_days = retention_days
            if keep_images is not None:
                group.keep_images = bool(keep_images)
            s.flush()
            after = f"retention_days={group.retention_days} keep_images={group.keep_images}"
            self._audit(s, me, "set_group_policy", "group", group_id, f"{before} -> {after}")
            return view(GroupInfo, group)

    def set_grade_range(
        self, actor: UserInfo, group_id: int, grade_min: float | None, grade_max: float | None
    ) -> GroupInfo:
        """Set the range that imported grades of a group must lie in (both ends, inclusive), or clear it with
        two Nones (then only grades within ±GRADE_ABS_MAX are taken). Administrators only; audited with the
        range before and after."""
        if (grade_min is None) != (grade_max is None):
            raise InvalidInput("give both ends of the grade range, or neither to clear it")
        if grade_min is not None and grade_max is not None:
            try:
                grade_min, grade_max = float(grade_min), float(grade_max)
            except (TypeError, ValueError) as exc:
                raise InvalidInput("the ends of the grade range are numbers") from exc
            if not (math.isfinite(grade_min) and math.isfinite(grade_max)):
                raise InvalidInput("the ends of the grade range must be finite numbers")
            if grade_min >= grade_max:
                raise InvalidInput("the lowest grade must be below the highest")
        with self._unit(actor) as (s, me):
            require_admin(me)
            group = self._get(s, Group, group_id)
            before = f"grade_min={group.grade_min} grade_max={group.grade_max}"
            group.grade_min, group.grade_max = grade_min, grade_max
            s.flush()
            self._audit(
                s, me, "set_grade_range", "group", group_id, f"{before} -> grade_min={grade_min} grade_max={grade_max}"
            )
            return view(GroupInfo, group)

    def purge_expired(self, actor: UserInfo | None = None, *, now: datetime | None = None) -> dict[str, int]:
        """Enforce every group's retention policy: delete the sessions that started more than the group's
        `retention_days` before `now`, with their captures (kept photos included) and readings. Groups without a
        policy keep everything; subjects, outcomes and notes are not session data and stay. Counts of what went.

        The app runs it at start (`actor` None: the system) and an administrator from the Admin page. One audit
        row "purge_expired" with the counts and the groups whenever something was deleted (none otherwise)."""
        moment = _aware(now or utcnow())
        if actor is None:
            with transaction(self._sessions) as s:
                return self._purge(s, None, moment)
        with self._unit(actor) as (s, me):
            require_admin(me)
            return self._purge(s, me, moment)

    def _purge(self, s: Session, me: User | None, now: datetime) -> dict[str, int]:
        total = {"sessions": 0, "captures": 0, "images": 0, "readings": 0}
        purged_groups: list[int] = []
        policies = s.execute(
            select(Group.id, Group.retention_days).where(Group.retention_days.is_not(None)).order_by(Group.id)
        ).all()
        for group_id, days in policies:
            cutoff = now - timedelta(days=cast(int, days))  # not None: the query selects groups with a policy
            counts = self._delete_sessions(s, Meeting.group_id == group_id, Meeting.started_at < cutoff)
            if counts["sessions"]:
                purged_groups.append(group_id)
                for key in total:
                    total[key] += counts[key]
        if purged_groups:
            self._audit(s, me, "purge_expired", "group", None, f"{_counted(total)} groups={purged_groups}")
            logger.info("retention purge: %s in groups %s", _counted(total), purged_groups)
        return total

    def delete_period(self, actor: UserInfo, period_id: int) -> dict[str, int]:
        """Delete a period with every outcome recorded for it, in every group. Administrators only; audited
        with the counts."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            period = self._get(s, Period, period_id)
            counts = {"outcomes": _delete(s, Outcome, Outcome.period_id == period_id)}
            counts["periods"] = _delete(s, Period, Period.id == period_id)
            self._audit(s, me, "delete_period", "period", period_id, f"name={period.name!r} {_counted(counts)}")
            return counts

    def delete_group(self, actor: UserInfo, group_id: int) -> dict[str, int]:
        """Delete a group with everything in it: its sessions, captures (kept photos included) and readings, its
        subjects with their outcomes and timeline notes, its alert rule and every grant to it. Administrators
        only; audited with the counts (the audit log itself is kept)."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            group = self._get(s, Group, group_id)
            subjects = select(Subject.id).where(Subject.group_id == group_id)
            counts = self._delete_sessions(s, Meeting.group_id == group_id)
            # A subject's readings are in their own group's captures (assignment across groups is refused);
            # this catches any that are not, rather than leave them to the cascade uncounted.
            counts["readings"] += _delete(s, Reading, Reading.subject_id.in_(subjects))
            counts["notes"] = _delete(s, TimelineNote, TimelineNote.subject_id.in_(subjects))
            counts["outcomes"] = _delete(s, Outcome, Outcome.subject_id.in_(subjects))
            _delete(s, Referral, Referral.subject_id.in_(subjects))  # access records, like the grants (not counted)
            counts["subjects"] = _delete(s, Subject, Subject.group_id == group_id)
            counts["alert_rules"] = _delete(s, AlertRuleSetting, AlertRuleSetting.group_id == group_id)
            counts["grants"] = _delete(s, GroupAccess, GroupAccess.group_id == group_id)
            counts["groups"] = _delete(s, Group, Group.id == group_id)
            self._audit(s, me, "delete_group", "group", group_id, f"name={group.name!r} {_counted(counts)}")
            return counts

    # ---------------------------------------------------------------- subjects

    def create_subject(
        self, actor: UserInfo, group_id: int, code: str, consent: str = "pending", is_simulated: bool = False
    ) -> SubjectInfo:
        """A pseudonymous subject in a group; simulated subjects only go into simulated groups. The code is
        stored NFKC-normalised and stripped (see `normalise_subject_code`); codes that differ only in case or
        Unicode form are the same code."""
        code = normalise_subject_code(code)
        with self._unit(actor) as (s, me):
            group = require_group(s, me, group_id)
            if consent not in CONSENT_STATUSES:
                raise InvalidInput(f"consent must be one of {CONSENT_STATUSES}")
            if is_simulated != group.is_simulated:
                raise InvalidInput("simulated subjects belong in simulated groups only, and real ones in real groups")
            key = subject_code_key(code)
            if s.scalar(select(Subject.id).where(Subject.group_id == group_id, Subject.code_key == key)) is not None:
                raise InvalidInput(
                    f"code {code!r} is taken in {group.name!r} (codes that differ only in upper/lower case or "
                    "Unicode form count as the same code)"
                )
            subject = Subject(group_id=group_id, code=code, code_key=key, consent=consent, is_simulated=is_simulated)
            s.add(subject)
            s.flush()
            self._audit(s, me, "create_subject", "subject", subject.id)
            return view(SubjectInfo, subject)

    def list_subjects(self, actor: UserInfo, group_id: int | None = None) -> list[SubjectInfo]:
        with self._unit(actor, write=False) as (s, me):
            stmt = select(Subject).order_by(Subject.group_id, Subject.code)
            if group_id is not None:
                require_group(s, me, group_id)
                stmt = stmt.where(Subject.group_id == group_id)
            subjects = [view(SubjectInfo, x) for x in s.scalars(restrict_to_visible(stmt, me, Subject.group_id))]
            self._audit(s, me, "list_subjects", "group", group_id, f"{len(subjects)} subjects")
            return subjects

    def set_consent(self, actor: UserInfo, subject_id: int, consent: str) -> SubjectInfo:
        """Record consent. Withdrawing it deletes nothing (delete the subject to erase) but stops processing:
        while a subject's consent is not "granted", their readings are left out of `readings_frame`, the export
        and `training_data` (their outcomes too), and no new reading can be assigned to them; granting it again
        brings the stored readings back. It also ends the subject's referrals (audited as "revoke_referral")."""
        with self._unit(actor) as (s, me):
            if consent not in CONSENT_STATUSES:
                raise InvalidInput(f"consent must be one of {CONSENT_STATUSES}")
            subject = require_subject(s, me, subject_id)
            subject.consent = consent
            self._audit(s, me, "set_consent", "subject", subject_id, consent)
            if consent != "granted":  # a referral rests on consent: granting it again needs a new referral
                for row in referrals.end(s, me, [subject_id]):
                    self._audit(s, me, "revoke_referral", "subject", subject_id, f"referral={row.id} consent={consent}")
            return view(SubjectInfo, subject)

    def delete_subject(self, actor: UserInfo, subject_id: int) -> dict[str, int]:
        """Delete a subject with their readings, outcomes and timeline notes, and every kept photo they were read
        from: the image of each capture with a reading of theirs is removed (the capture's checksum and other
        people's readings from it stay). Anyone with access to the group; audited with the counts, returned."""
        with self._unit(actor) as (s, me):
            subject = require_subject(s, me, subject_id)
            theirs = select(Reading.capture_id).where(Reading.subject_id == subject_id)
            cleared = s.execute(
                update(Capture)
                .where(Capture.id.in_(theirs), Capture.image.is_not(None))
                .values(image=None)
                .execution_options(synchronize_session=False)
            )
            counts = {
                "readings": _delete(s, Reading, Reading.subject_id == subject_id),
                "outcomes": _delete(s, Outcome, Outcome.subject_id == subject_id),
                "notes": _delete(s, TimelineNote, TimelineNote.subject_id == subject_id),
                "images_removed": int(cast(CursorResult, cleared).rowcount),
            }
            _delete(s, Referral, Referral.subject_id == subject_id)  # who could see them: access, not their data
            _delete(s, Subject, Subject.id == subject_id)
            self._audit(s, me, "delete_subject", "subject", subject_id, f"code={subject.code} {_counted(counts)}")
            return counts

    # ---------------------------------------------------------------- sessions, captures, readings

    def create_session(
        self, actor: UserInfo, group_id: int, started_at: datetime | None = None, context_note: str = ""
    ) -> SessionInfo:
        with self._unit(actor) as (s, me):
            require_group(s, me, group_id)
            meeting = Meeting(
                group_id=group_id,
                started_at=_aware(started_at or utcnow()),
                context_note=context_note,
                created_by=me.id,
            )
            s.add(meeting)
            s.flush()
            self._audit(s, me, "create_session", "session", meeting.id)
            return view(SessionInfo, meeting)

    def list_sessions(self, actor: UserInfo, group_id: int | None = None) -> list[SessionInfo]:
        with self._unit(actor, write=False) as (s, me):
            stmt = select(Meeting).order_by(Meeting.started_at.desc())
            if group_id is not None:
                require_group(s, me, group_id)
                stmt = stmt.where(Meeting.group_id == group_id)
            sessions = [view(SessionInfo, m) for m in s.scalars(restrict_to_visible(stmt, me, Meeting.group_id))]
            self._audit(s, me, "list_sessions", "group", group_id, f"{len(sessions)} sessions")
            return sessions

    def save_capture(
        self,
        actor: UserInfo,
        session_id: int,
        readings: Sequence[FaceReading],
        assignments: Sequence[int | None] | None,
        checksum: str,
        source: str,
        image_bytes: bytes | None = None,
        captured_at: datetime | None = None,
    ) -> CaptureResult:
        """Store one image's readings atomically: the capture, every reading, and each reading's
        subject (`assignments[i]` for `readings[i]`, None = unassigned). The image bytes are kept
        only when the group's policy allows; `checksum` is the SHA-256 hex of the upload."""
        assignments = list(assignments) if assignments is not None else [None] * len(readings)
        if len(assignments) != len(readings):
            raise InvalidInput("one assignment (subject id or None) per reading")
        checksum = checksum.lower()
        if not _CHECKSUM.match(checksum):
            raise InvalidInput("checksum must be a SHA-256 hex digest")
        if image_bytes is not None and hashlib.sha256(image_bytes).hexdigest() != checksum:
            raise InvalidInput("checksum does not match the image")
        if source not in CAPTURE_SOURCES:
            raise InvalidInput(f"source must be one of {CAPTURE_SOURCES}")
        for r in readings:
            _check_reading(r)

        with self._unit(actor) as (s, me):
            self._require_analysis_allowed(s, simulated=source == "simulated")  # the AI Act: db.deployment
            _, group = require_meeting(s, me, session_id)
            if (source == "simulated") != group.is_simulated:
                raise InvalidInput("simulated captures belong in simulated groups only")
            for subject_id in {a for a in assignments if a is not None}:
                self._check_assignable(s, subject_id, group)
            keep = group.keep_images and image_bytes is not None
            capture = Capture(
                session_id=session_id,
                captured_at=_aware(captured_at or utcnow()),
                source=source,
                checksum=checksum,
                image=image_bytes if keep else None,
                created_by=me.id,
            )
            s.add(capture)
            s.flush()
            rows = [_reading_row(capture.id, i, r, a) for i, (r, a) in enumerate(zip(readings, assignments))]
            s.add_all(rows)
            s.flush()
            self._audit(
                s,
                me,
                "save_capture",
                "capture",
                capture.id,
                f"faces={len(rows)} assigned={sum(a is not None for a in assignments)} image_kept={keep}",
            )
            return CaptureResult(capture.id, tuple(r.id for r in rows), keep, session_id)

    def save_video_session(
        self,
        actor: UserInfo,
        group_id: int,
        faces: Sequence[VideoFace],
        assignments: Mapping[int, int | None],
        checksum: str,
        *,
        context_note: str = "",
        started_at: datetime | None = None,
        thumbnails_png: bytes | None = None,
    ) -> CaptureResult:
        """Store one analysed video atomically: a new session in the group, one capture (source "video",
        `checksum` the SHA-256 hex of the video's bytes, `captured_at` = the session's start), and one reading
        per face, numbered in the order given, with its frame time and track. `assignments` maps track ids
        to a subject id or None (a track left out stays unassigned); a subject may take one track only.
        `thumbnails_png`, a PNG contact sheet of the track thumbnails, is kept only when the group's policy
        keeps images; nothing else of the video is stored. Audited as "save_video"."""
        checksum = checksum.lower()
        if not _CHECKSUM.match(checksum):
            raise InvalidInput("checksum must be a SHA-256 hex digest")
        if not faces:
            raise InvalidInput("no face was read in this video, so there is nothing to save")
        if thumbnails_png is not None and not thumbnails_png.startswith(_PNG_SIGNATURE):
            raise InvalidInput("the contact sheet of track thumbnails must be a PNG")
        for face in faces:
            _check_reading(face.reading)
            if not (math.isfinite(face.time_s) and face.time_s >= 0):
                raise InvalidInput("frame times must be finite seconds from the start of the video")
        track_ids = {face.track_id for face in faces}
        strangers = sorted(set(assignments) - track_ids)
        if strangers:
            raise InvalidInput(f"track(s) {strangers} are not in this video")
        assigned = {t: sid for t, sid in assignments.items() if sid is not None}
        if len(set(assigned.values())) < len(assigned):
            raise InvalidInput("one subject is assigned to two tracks; give each subject one track at most")

        with self._unit(actor) as (s, me):
            self._require_analysis_allowed(s)  # the AI Act: db.deployment
            group = require_group(s, me, group_id)
            if group.is_simulated:
                raise InvalidInput("a simulated group takes simulated captures only, not videos")
            for subject_id in set(assigned.values()):
                self._check_assignable(s, subject_id, group)
            start = _aware(started_at or utcnow())
            meeting = Meeting(group_id=group_id, started_at=start, context_note=context_note, created_by=me.id)
            s.add(meeting)
            s.flush()
            keep = group.keep_images and thumbnails_png is not None
            capture = Capture(
                session_id=meeting.id,
                captured_at=start,
                source="video",
                checksum=checksum,
                image=thumbnails_png if keep else None,
                created_by=me.id,
            )
            s.add(capture)
            s.flush()
            rows = [
                _reading_row(
                    capture.id,
                    i,
                    face.reading,
                    assigned.get(face.track_id),
                    frame_time_s=float(face.time_s),
                    track_id=int(face.track_id),
                )
                for i, face in enumerate(faces)
            ]
            s.add_all(rows)
            s.flush()
            self._audit(s, me, "create_session", "session", meeting.id)
            self._audit(
                s,
                me,
                "save_video",
                "capture",
                capture.id,
                f"session={meeting.id} faces={len(rows)} tracks={len(track_ids)} assigned={len(assigned)} "
                f"image_kept={keep}",
            )
            return CaptureResult(capture.id, tuple(r.id for r in rows), keep, meeting.id)

    def capture_image(self, actor: UserInfo, capture_id: int) -> bytes | None:
        """The kept photo of a capture, or None when the group's policy did not keep it. The one audited
        read of stored photos: no page shows them yet; the photo-policy and erasure checks use it."""
        with self._unit(actor, write=False) as (s, me):
            capture, _ = require_capture(s, me, capture_id)
            self._audit(s, me, "view_image", "capture", capture_id)
            return capture.image

    def captures_with_checksum(
        self, actor: UserInfo, session_id: int, checksums: Sequence[str]
    ) -> dict[str, list[datetime]]:
        """Which of `checksums` (SHA-256 hex of uploads) are saved in the session already, each with the times
        its captures were saved, earliest first; checksums not saved there are left out. One query for a
        whole batch, so that the Analyse page can ask before saving a photo twice. Saving it again stays
        allowed (`save_capture`): a deliberate re-analysis is a choice the page confirms, not an error."""
        wanted = {c.lower() for c in checksums}
        if any(not _CHECKSUM.match(c) for c in wanted):
            raise InvalidInput("checksums must be SHA-256 hex digests")
        with self._unit(actor, write=False) as (s, me):
            require_meeting(s, me, session_id)
            found: dict[str, list[datetime]] = {}
            if wanted:
                rows = s.execute(
                    select(Capture.checksum, Capture.captured_at)
                    .where(Capture.session_id == session_id, Capture.checksum.in_(sorted(wanted)))
                    .order_by(Capture.captured_at, Capture.id)
                )
                for checksum, captured_at in rows:
                    found.setdefault(checksum, []).append(captured_at)
            self._audit(
                s, me, "check_checksums", "session", session_id, f"{len(wanted)} checked, {len(found)} saved before"
            )
            return found

    def delete_capture(self, actor: UserInfo, capture_id: int) -> dict[str, int]:
        """Delete one capture with its readings and its kept photo. Administrators only (as every deletion
        but a subject's: staff ask an administrator); audited with the counts."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            capture, group = require_capture(s, me, capture_id)
            counts = {"readings": _delete(s, Reading, Reading.capture_id == capture_id)}
            counts["images"] = int(capture.image is not None)
            counts["captures"] = _delete(s, Capture, Capture.id == capture_id)
            detail = f"session={capture.session_id} group={group.id} {_counted(counts)}"
            self._audit(s, me, "delete_capture", "capture", capture_id, detail)
            return counts

    def delete_session(self, actor: UserInfo, session_id: int) -> dict[str, int]:
        """Delete a session with its captures (kept photos included) and their readings. Administrators only;
        audited with the counts."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            _, group = require_meeting(s, me, session_id)
            counts = self._delete_sessions(s, Meeting.id == session_id)
            self._audit(s, me, "delete_session", "session", session_id, f"group={group.id} {_counted(counts)}")
            return counts

    @staticmethod
    def _delete_sessions(s: Session, *where: ColumnElement[bool]) -> dict[str, int]:
        """Delete the sessions matching `where` with their captures and readings, children first (not left to ON
        DELETE CASCADE), so that the counts are exact and no backend can keep an orphan."""
        sessions = select(Meeting.id).where(*where)
        captures = select(Capture.id).where(Capture.session_id.in_(sessions))
        images = s.scalar(
            select(func.count()).select_from(Capture).where(Capture.id.in_(captures), Capture.image.is_not(None))
        )
        readings = _delete(s, Reading, Reading.capture_id.in_(captures))
        n_captures = _delete(s, Capture, Capture.session_id.in_(sessions))
        n_sessions = _delete(s, Meeting, *where)
        return {"sessions": n_sessions, "captures": n_captures, "images": int(images or 0), "readings": readings}

    @staticmethod
    def _check_assignable(s: Session, subject_id: int, group: Group) -> None:
        subject = s.get(Subject, subject_id)
        if subject is None or subject.group_id != group.id:
            raise InvalidInput(f"subject {subject_id} is not in group {group.name!r}")
        if subject.consent != "granted":
            raise InvalidInput(f"subject {subject.code!r} has no consent on record ({subject.consent})")

    def readings_frame(
        self,
        actor: UserInfo,
        group_id: int | None = None,
        session_id: int | None = None,
        subject_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Readings visible to `actor`, one row each, newest last; `start` inclusive, `end` exclusive."""
        with self._unit(actor, write=False) as (s, me):
            frame = self._readings(s, me, group_id, session_id, subject_id, start, end)
            self._audit(
                s,
                me,
                "view_readings",
                "group",
                group_id,
                f"session={session_id} subject={subject_id} rows={len(frame)}",
            )
            return frame

    def export_readings_csv(self, actor: UserInfo, **filters) -> str:
        """The same rows as `readings_frame`, as CSV text (UTF-8, comma separated); the dominance column is headed
        `dominance_experimental`."""
        with self._unit(actor, write=False) as (s, me):
            frame = self._readings(s, me, **filters).rename(columns=EXPORT_COLUMNS)
            self._audit(s, me, "export_readings", "group", filters.get("group_id"), f"rows={len(frame)}")
            # formula cells (a subject code "=HYPERLINK(...)") neutralised for spreadsheets
            return cast(str, safe_csv(frame, index=False, date_format="%Y-%m-%dT%H:%M:%SZ"))

    def reassign_reading(self, actor: UserInfo, reading_id: int, subject_id: int | None) -> int:
        """Correct who a saved reading belongs to: another subject of the same group with consent "granted",
        or nobody (`subject_id=None`, anonymous). A video reading moves with its whole track (a track is one
        person), and a subject takes one track of a video at most, as when it was saved. Anyone with access
        to the reading's group (the staff who assigned it, or an administrator). A reading hidden by its
        subject's consent cannot be moved. Audited as "reassign_reading" ("from=12 to=15 readings=1");
        returns how many readings moved."""
        with self._unit(actor) as (s, me):
            reading, group = self._correctable_reading(s, me, reading_id)
            if subject_id == reading.subject_id:
                raise InvalidInput(f"reading {reading_id} is assigned there already; nothing to change")
            if subject_id is not None:
                self._check_assignable(s, subject_id, group)
            scope = [Reading.id == reading_id]
            if reading.track_id is not None:
                scope = [Reading.capture_id == reading.capture_id, Reading.track_id == reading.track_id]
                if subject_id is not None and s.scalar(
                    select(Reading.id)
                    .where(
                        Reading.capture_id == reading.capture_id,
                        Reading.subject_id == subject_id,
                        Reading.track_id != reading.track_id,
                    )
                    .limit(1)
                ):
                    raise InvalidInput("this subject has another track in this video; give each subject one track")
            moved = s.execute(
                update(Reading).where(*scope).values(subject_id=subject_id).execution_options(synchronize_session=False)
            )
            count = int(cast(CursorResult, moved).rowcount)
            detail = f"from={_subject_ref(reading.subject_id)} to={_subject_ref(subject_id)} readings={count}"
            self._audit(s, me, "reassign_reading", "reading", reading_id, detail)
            return count

    def delete_reading(self, actor: UserInfo, reading_id: int) -> None:
        """Delete one saved reading that is no person (a poster, a false detection); the rest of its capture
        stays. Only this reading, also for a video. Anyone with access to the reading's group, as for
        `reassign_reading`. Audited as "delete_reading" with where it was (capture, face, subject, model), so
        that the correction can be traced; not with the class or V/A/D, since the audit log outlives a
        subject's erasure and must not keep readings of them."""
        with self._unit(actor) as (s, me):
            reading, _ = self._correctable_reading(s, me, reading_id)
            detail = (
                f"capture={reading.capture_id} face={reading.face_index} subject={_subject_ref(reading.subject_id)} "
                f"model={reading.model_version}"
            )
            if reading.track_id is not None:
                detail += f" track={reading.track_id} time_s={reading.frame_time_s:.2f}"
            _delete(s, Reading, Reading.id == reading_id)
            self._audit(s, me, "delete_reading", "reading", reading_id, detail)

    @staticmethod
    def _correctable_reading(s: Session, me: User, reading_id: int) -> tuple[Reading, Group]:
        """A reading `me` may correct, locked for this transaction, with its group. One whose subject's consent
        is not granted is hidden everywhere, and stays untouched (deleting the subject erases it)."""
        reading = s.get(Reading, reading_id, with_for_update=True)
        if reading is None:
            raise NotFound(f"reading {reading_id} does not exist")
        _, group = require_capture(s, me, reading.capture_id)
        if reading.subject_id is not None:
            subject = s.get(Subject, reading.subject_id)
            if subject is None or subject.consent != "granted":
                raise InvalidInput(f"reading {reading_id} belongs to a subject whose consent is not granted")
        return reading, group

    def _readings(
        self,
        s: Session,
        me: User,
        group_id: int | None = None,
        session_id: int | None = None,
        subject_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        if group_id is not None:
            require_group(s, me, group_id)
        if session_id is not None:
            require_meeting(s, me, session_id)
        if subject_id is not None:
            require_subject(s, me, subject_id, referred=True)
        columns = [
            Reading.id.label("reading_id"),
            Capture.id.label("capture_id"),
            Meeting.id.label("session_id"),
            Group.id.label("group_id"),
            Group.is_simulated,
            Reading.subject_id,
            Subject.code.label("subject_code"),
            Capture.captured_at,
            Reading.face_index,
            Reading.frame_time_s,
            Reading.track_id,
            Reading.label,
            *(getattr(Reading, c) for c in PROBABILITY_COLUMNS),
            Reading.valence,
            Reading.arousal,
            Reading.dominance,
            Reading.consistency_violations,
            Reading.quality_flags,
            Reading.model_version,
            Reading.box_x,
            Reading.box_y,
            Reading.box_w,
            Reading.box_h,
            Reading.detection_score,
        ]
        stmt = (
            select(*columns)
            .join(Capture, Reading.capture_id == Capture.id)
            .join(Meeting, Capture.session_id == Meeting.id)
            .join(Group, Meeting.group_id == Group.id)
            .outerjoin(Subject, Reading.subject_id == Subject.id)
            .order_by(Capture.captured_at, Reading.id)
        )
        stmt = restrict_to_visible(stmt, me, Group.id, Reading.subject_id)  # a referred subject's rows too
        # Processing needs consent: a subject's readings only while it is "granted" (withdrawn, or set back to
        # pending, hides them until it is granted again). Unassigned readings name no one and stay.
        stmt = stmt.where(Reading.subject_id.is_(None) | (Subject.consent == "granted"))
        for column, value in ((Group.id, group_id), (Meeting.id, session_id), (Reading.subject_id, subject_id)):
            if value is not None:
                stmt = stmt.where(column == value)
        # A video reading's moment is its capture's start plus its frame time: the database narrows by the
        # capture's start (a video lasts less than MAX_VIDEO_SPAN), the exact test follows below.
        if start is not None:
            start = _aware(start)
            stmt = stmt.where(
                (Capture.captured_at >= start)
                | (Reading.frame_time_s.is_not(None) & (Capture.captured_at >= start - MAX_VIDEO_SPAN))
            )
        if end is not None:
            end = _aware(end)
            stmt = stmt.where(Capture.captured_at < end)
        frame = pd.DataFrame(s.execute(stmt).all(), columns=[c.key for c in columns])
        frame["captured_at"] = pd.to_datetime(frame["captured_at"], utc=True) + pd.to_timedelta(
            frame["frame_time_s"].astype(float).fillna(0.0), unit="s"
        )
        if start is not None:
            frame = frame[frame["captured_at"] >= start]
        if end is not None:
            frame = frame[frame["captured_at"] < end]
        # Stable: readings of one capture keep their order (a video's are in time order already).
        return frame.sort_values(["captured_at", "reading_id"], kind="stable", ignore_index=True)

    # ---------------------------------------------------------------- timelines: alert rules and notes

    def alert_rule(self, actor: UserInfo, group_id: int) -> AlertRuleInfo:
        """The group's alert rule, with who set it and when; the default rule while none was set."""
        with self._unit(actor, write=False) as (s, me):
            require_timeline_role(me)
            require_group(s, me, group_id)
            return self._alert_rule_info(s, group_id)

    def set_alert_rule(self, actor: UserInfo, group_id: int, rule: AlertRule) -> AlertRuleInfo:
        """Store `rule` as the group's alert rule (replacing the one before; the audit log keeps each)."""
        with self._unit(actor) as (s, me):
            require_timeline_role(me)
            require_group(s, me, group_id)
            row = s.get(AlertRuleSetting, group_id) or AlertRuleSetting(group_id=group_id)
            row.dim, row.direction = rule.dim, rule.direction
            row.threshold, row.run_length = float(rule.threshold), int(rule.run_length)
            row.set_by, row.set_at = me.id, utcnow()
            s.add(row)
            s.flush()
            self._audit(s, me, "set_alert_rule", "group", group_id, rule.describe())
            return self._alert_rule_info(s, group_id)

    @staticmethod
    def _alert_rule_info(s: Session, group_id: int) -> AlertRuleInfo:
        row = s.get(AlertRuleSetting, group_id)
        if row is None:
            return AlertRuleInfo(group_id, DEFAULT_ALERT_RULE, None, None)
        setter = s.get(User, row.set_by) if row.set_by is not None else None
        rule = AlertRule(row.dim, row.direction, row.threshold, row.run_length)
        return AlertRuleInfo(group_id, rule, _name(setter), row.set_at)

    def add_timeline_note(self, actor: UserInfo, subject_id: int, text: str) -> TimelineNoteInfo:
        """Leave a plain-text note on a subject's timeline: stripped of surrounding white space, 1 to
        TIMELINE_NOTE_MAX_CHARS characters. The audit row records its length, not its words."""
        with self._unit(actor) as (s, me):
            require_timeline_role(me)
            require_subject(s, me, subject_id, referred=True)
            body = text.strip()
            if not body:
                raise InvalidInput("the note is empty")
            if len(body) > TIMELINE_NOTE_MAX_CHARS:
                raise InvalidInput(f"a note holds at most {TIMELINE_NOTE_MAX_CHARS:,} characters ({len(body):,} given)")
            if "\x00" in body:  # PostgreSQL refuses NUL in text; no keyboard types it
                raise InvalidInput("the note contains a NUL character")
            note = TimelineNote(subject_id=subject_id, author_id=me.id, written_at=utcnow(), body=body)
            s.add(note)
            s.flush()
            self._audit(s, me, "add_timeline_note", "subject", subject_id, f"note={note.id} chars={len(body)}")
            return TimelineNoteInfo(note.id, subject_id, _name(me), note.written_at, body)

    def timeline_notes(self, actor: UserInfo, subject_id: int) -> list[TimelineNoteInfo]:
        """The notes on a subject's timeline, oldest first."""
        with self._unit(actor, write=False) as (s, me):
            require_timeline_role(me)
            require_subject(s, me, subject_id, referred=True)
            rows = s.execute(
                select(TimelineNote, User)
                .outerjoin(User, TimelineNote.author_id == User.id)
                .where(TimelineNote.subject_id == subject_id)
                .order_by(TimelineNote.written_at, TimelineNote.id)
            ).all()
            notes = [TimelineNoteInfo(n.id, n.subject_id, _name(u), n.written_at, n.body) for n, u in rows]
            self._audit(s, me, "view_timeline_notes", "subject", subject_id, f"notes={len(notes)}")
            return notes

    # ---------------------------------------------------------------- outcomes and prediction

    def import_outcomes(
        self,
        actor: UserInfo,
        group_id: int,
        csv_source: str | bytes | BinaryIO,
        grade_range: tuple[float, float] | None = None,
        dry_run: bool = False,
    ) -> ImportReport:
        """Validate an outcomes CSV against the group's subject codes and the periods; write the
        rows that fit (replacing earlier values for the same subject and period) unless
        `dry_run`, and report the rows that do not. Grades must lie in `grade_range` if given, else in the
        group's range (`set_grade_range`), else within ±GRADE_ABS_MAX; a grade outside is a problem of its line."""
        with self._unit(actor, write=False) as (s, me):
            group = require_group(s, me, group_id)
            if grade_range is None and group.grade_min is not None and group.grade_max is not None:
                grade_range = (group.grade_min, group.grade_max)
            subject_ids = dict(s.execute(select(Subject.code, Subject.id).where(Subject.group_id == group_id)).all())
            period_ids = dict(s.execute(select(Period.name, Period.id)).all())
        # Parsed outside any transaction: a large file holds neither the database nor its write lock.
        report = read_outcomes_csv(
            csv_source, known_subjects=set(subject_ids), known_periods=set(period_ids), grade_range=grade_range
        )
        with self._unit(actor) as (s, me):
            require_group(s, me, group_id)
            if dry_run:  # a check reads the group's subject codes: audited like any read
                detail = f"rows={len(report.rows)} refused={report.problems['line'].nunique()}"
                self._audit(s, me, "check_outcomes", "group", group_id, detail)
            else:
                used = set(report.rows["subject_code"])
                now_ids = dict(
                    s.execute(
                        select(Subject.code, Subject.id).where(Subject.group_id == group_id, Subject.code.in_(used))
                    ).all()
                )
                if any(now_ids.get(code) != subject_ids[code] for code in used) or period_ids != dict(
                    s.execute(select(Period.name, Period.id)).all()
                ):
                    raise InvalidInput("subjects or periods changed while the file was checked; upload it again")
                for row in report.rows.itertuples():
                    self._upsert_outcome(
                        s,
                        subject_ids[row.subject_code],
                        period_ids[row.period],
                        None if pd.isna(row.grade) else float(row.grade),
                        row.at_risk,
                    )
                self._audit(
                    s,
                    me,
                    "import_outcomes",
                    "group",
                    group_id,
                    f"rows={len(report.rows)} refused={report.problems['line'].nunique()}",
                )
            return ImportReport(imported=len(report.rows), problems=report.problems, dry_run=dry_run)

    @staticmethod
    def _upsert_outcome(s: Session, subject_id: int, period_id: int, grade: float | None, at_risk: bool | None) -> None:
        outcome = s.scalar(select(Outcome).where(Outcome.subject_id == subject_id, Outcome.period_id == period_id))
        if outcome is None:
            s.add(Outcome(subject_id=subject_id, period_id=period_id, grade=grade, at_risk=at_risk))
        else:
            outcome.grade, outcome.at_risk, outcome.imported_at = grade, at_risk, utcnow()

    def outcomes_frame(self, actor: UserInfo, group_id: int) -> pd.DataFrame:
        """subject_id, subject_code, period, grade, at_risk, is_simulated for one group: the audited read of
        stored outcomes (no page lists them yet; the import and erasure checks use it)."""
        with self._unit(actor, write=False) as (s, me):
            frame = self._outcomes(s, me, [group_id])
            self._audit(s, me, "view_outcomes", "group", group_id, f"rows={len(frame)}")
            return frame

    def _outcomes(self, s: Session, me: User, group_ids: Sequence[int]) -> pd.DataFrame:
        for gid in group_ids:
            require_group(s, me, gid)
        stmt = (
            select(
                Outcome.subject_id,
                Subject.code.label("subject_code"),
                Period.name.label("period"),
                Outcome.grade,
                Outcome.at_risk,
                Subject.is_simulated,
            )
            .join(Subject, Outcome.subject_id == Subject.id)
            .join(Period, Outcome.period_id == Period.id)
            .where(Subject.group_id.in_(group_ids))
            .order_by(Subject.code, Period.starts_on)
        )
        return pd.DataFrame(
            s.execute(stmt).all(), columns=["subject_id", "subject_code", "period", "grade", "at_risk", "is_simulated"]
        )

    def training_data(self, actor: UserInfo, group_ids: Sequence[int]) -> pd.DataFrame:
        """Per subject and period: the reading features joined with the outcomes, for fitting a
        predictor. Refuses (MixedDataError) groups that mix simulated and real data. Only subjects whose
        consent is "granted" take part: the others' readings and outcomes are left out."""
        with self._unit(actor, write=False) as (s, me):
            groups = [require_group(s, me, gid) for gid in group_ids]
            if not groups:
                raise InvalidInput("choose at least one group")
            if len({g.is_simulated for g in groups}) > 1:
                raise MixedDataError("simulated and real groups cannot be used together")
            readings = pd.concat([self._readings(s, me, group_id=g.id) for g in groups], ignore_index=True)
            spans = [PeriodSpan(p.name, p.starts_on, p.ends_on) for p in s.scalars(select(Period))]
            assigned = readings.dropna(subset=["subject_id"]).astype({"subject_id": int})
            features = subject_period_features(assigned, spans)
            features["is_simulated"] = groups[0].is_simulated
            outcomes = self._outcomes(s, me, group_ids)
            consenting = s.scalars(
                select(Subject.id).where(Subject.group_id.in_(group_ids), Subject.consent == "granted")
            ).all()
            outcomes = outcomes[outcomes["subject_id"].isin(consenting)].reset_index(drop=True)
            table = training_table(features, outcomes)
            self._audit(s, me, "training_data", "group", None, f"groups={[g.id for g in groups]} rows={len(table)}")
            return table

    # ---------------------------------------------------------------- administration

    def audit_log(
        self,
        actor: UserInfo,
        limit: int = 500,
        *,
        username: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        since: date | None = None,
        until: date | None = None,
        zone: tzinfo = UTC,
    ) -> pd.DataFrame:
        """The newest `limit` audit rows, newest first, narrowed by the filters given: exact user name, action
        and object type; `since` and `until` are days in `zone` (the reader's), both included."""
        if since is not None and until is not None and until < since:
            raise InvalidInput("the last day comes before the first day")
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            cols = [
                AuditEntry.id,
                AuditEntry.at,
                AuditEntry.username,
                AuditEntry.action,
                AuditEntry.object_type,
                AuditEntry.object_id,
                AuditEntry.detail,
            ]
            stmt = select(*cols)
            filters: list[str] = []
            for column, value in (
                (AuditEntry.username, username),
                (AuditEntry.action, action),
                (AuditEntry.object_type, object_type),
            ):
                if value:
                    stmt = stmt.where(column == value)
                    filters.append(f"{column.key}={value!r}")
            if since is not None or until is not None:
                start, end = day_bounds(since or until, until or since, zone)  # type: ignore[arg-type]
                if since is not None:
                    stmt = stmt.where(AuditEntry.at >= start)
                    filters.append(f"since={since.isoformat()}")
                if until is not None:
                    stmt = stmt.where(AuditEntry.at < end)
                    filters.append(f"until={until.isoformat()}")
                if zone is not UTC:  # the days' zone, so the trail says which hours they were
                    filters.append(f"zone={zone_name(zone)}")
            rows = s.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit)).all()
            # Reading the log is itself logged (written after this read, so not among the rows returned), with
            # the filters, so the trail says what was looked for.
            self._audit(s, me, "view_audit_log", detail=" ".join([f"rows={len(rows)}", *filters]))
            return pd.DataFrame(rows, columns=[c.key for c in cols])

    def audit_vocabulary(self, actor: UserInfo) -> dict[str, list[str]]:
        """The user names, actions and object types that occur in the audit log, for filter menus. Not
        audited: names of accounts and kinds of events, no pilot data and no log rows."""
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            return {
                column.key: sorted(v for v in s.scalars(select(column).distinct()) if v)
                for column in (AuditEntry.username, AuditEntry.action, AuditEntry.object_type)
            }

    def database_size(self, actor: UserInfo) -> int:
        """Bytes on disk: the SQLite file with its WAL, or pg_database_size on PostgreSQL."""
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            if self.engine.dialect.name == "postgresql":
                return int(s.scalar(text("SELECT pg_database_size(current_database())")))
            path = self.engine.url.database
            if not path or path == ":memory:":
                return int(s.scalar(text("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")))
            return sum(Path(p).stat().st_size for p in (path, f"{path}-wal") if Path(p).exists())

    # ---------------------------------------------------------------- deployment (the law: db.deployment)

    def deployment(self, actor: UserInfo) -> DeploymentInfo | None:
        """The installation's deployment record, or None while none is recorded. Any logged-in user."""
        with self._unit(actor, write=False) as (s, _):
            return self._deployment_info(s)

    def analysis_verdict(self, actor: UserInfo) -> Verdict:
        """Whether photos and videos may be analysed under the deployment record (`db.deployment`). Any user."""
        with self._unit(actor, write=False) as (s, _):
            return analysis_allowed(self._deployment_info(s))

    def record_deployment(
        self,
        actor: UserInfo,
        organisation: str,
        contact: str,
        jurisdiction: str,
        setting: str,
        purpose: str,
        protocol_ref: str = "",
    ) -> DeploymentInfo:
        """Record (or replace) the deployment: the organisation (the controller named on notices), a contact for
        questions and withdrawal, where, in what setting and for what purpose. Administrators only; audited with
        the values and the verdict. A prohibited deployment is recorded as it is, and analysis stays off."""
        organisation = _plain_line(organisation, "organisation", required=True)
        contact = _plain_line(contact, "contact", required=True)
        protocol_ref = _plain_line(protocol_ref, "protocol reference", required=False)
        if jurisdiction not in JURISDICTIONS:
            raise InvalidInput(f"jurisdiction must be one of {JURISDICTIONS}")
        if setting not in DEPLOYMENT_SETTINGS:
            raise InvalidInput(f"setting must be one of {DEPLOYMENT_SETTINGS}")
        if purpose not in DEPLOYMENT_PURPOSES:
            raise InvalidInput(f"purpose must be one of {DEPLOYMENT_PURPOSES}")
        if purpose == "research" and not protocol_ref:
            raise InvalidInput("a research purpose needs the reference of the approved protocol")
        with self._unit(actor) as (s, me):
            require_admin(me)
            row = s.get(Deployment, 1) or Deployment(id=1)
            row.organisation, row.contact, row.protocol_ref = organisation, contact, protocol_ref
            row.jurisdiction, row.setting, row.purpose = jurisdiction, setting, purpose
            row.recorded_by, row.recorded_at = me.id, utcnow()
            s.add(row)
            s.flush()
            info = self._deployment_info(s)
            verdict = analysis_allowed(info)
            detail = (
                f"organisation={organisation!r} jurisdiction={jurisdiction} setting={setting} purpose={purpose} "
                f"protocol={protocol_ref!r} analysis_allowed={verdict.allowed}"
            )
            self._audit(s, me, "record_deployment", "deployment", 1, detail)
            logger.info("deployment recorded: %s", detail)
            return cast(DeploymentInfo, info)

    def processing_record(self, actor: UserInfo) -> dict:
        """A record of processing to start a data-protection impact assessment (GDPR Art. 30/35): controller and
        contact, the rule's verdict, purposes, categories of data, per group its retention, photo policy, counts
        and who has access, the accounts per role, the model in use with its measured accuracy, and the app's
        safeguards. Plain types only (JSON-ready; `db.deployment.processing_record_markdown` writes it as a
        document). Administrators only; audited."""
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            info = self._deployment_info(s)
            verdict = analysis_allowed(info)
            groups = [self._group_processing(s, g) for g in s.scalars(select(Group).order_by(Group.name))]
            accounts = dict(s.execute(select(User.role, func.count()).where(User.is_active).group_by(User.role)).all())
            versions = sorted(s.scalars(select(Reading.model_version).distinct()).all())
            figures = self._figures_in_use(s)
            record = {
                "generated_at": utcnow().isoformat(timespec="seconds"),
                "controller": None
                if info is None
                else {
                    "organisation": info.organisation,
                    "contact": info.contact,
                    "jurisdiction": info.jurisdiction,
                    "setting": info.setting,
                    "purpose": info.purpose,
                    "protocol_ref": info.protocol_ref,
                    "recorded_by": info.recorded_by,
                    "recorded_at": info.recorded_at.isoformat(timespec="seconds"),
                },
                "verdict": {
                    "allowed": verdict.allowed,
                    "reason": verdict.reason,
                    "article": verdict.article,
                    "obligations": list(verdict.obligations),
                },
                "purposes": [
                    f"the recorded purpose: {info.purpose}" if info else "no purpose recorded",
                    "following pseudonymous people's emotion readings over sessions (decision support, never a "
                    "diagnosis)",
                    "optionally, an outcome study relating readings to grades or risk flags (association only)",
                ],
                "categories_of_data": [
                    "people: pupils/students (classes) or patients (caseloads), under pseudonymous codes, with "
                    "their consent status",
                    "face readings: the class probabilities of 7 emotions, valence, arousal and dominance "
                    "estimates, face box, time, model version (inferences that can be health data, GDPR Art. 9)",
                    "images: photos, or a video's contact sheet of face thumbnails, only in groups whose policy keeps "
                    "them (else a SHA-256 checksum only)",
                    "outcomes: grades and at-risk flags per period, where imported",
                    "timeline notes written by psychologists and administrators",
                    "staff accounts (username, display name, role, password hash) and the audit log of every access",
                ],
                "groups": groups,
                "accounts": {role: int(accounts.get(role, 0)) for role in ROLES},
                "access_rule": "administrators see every group; teachers and psychologists only the groups they "
                "were granted (checked by the service layer on every call)",
                "model": {
                    "model_version": figures["model_version"],
                    "accuracy": ", ".join(
                        f"{split} {100 * v:.1f}%" for split, v in figures.get("ten_crop_accuracy", {}).items()
                    )
                    or "not measured here (not the shipped model: see its check on Admin, Model)",
                    "vad_agreement": ", ".join(
                        f"{dim} {r:.2f}" for dim, r in figures.get("vad_pearson_with_people", {}).items()
                    )
                    or "not measured",
                    "measured_with": figures.get("measured_with", ""),
                    "versions_in_readings": versions,
                },
                "safeguards": [
                    "analysis refused by the service layer while the deployment rule refuses it",
                    "readings assignable only to subjects whose consent is granted; withdrawn consent hides them "
                    "and leaves them out of the outcome study",
                    "role and group access checked on every call; every access to subject data audited",
                    "retention per group enforced at every start and on demand; deletion of subjects with every "
                    "kept photo they were read from",
                    "passwords hashed with Argon2",
                ],
            }
            self._audit(s, me, "processing_record", "deployment", 1, f"groups={len(groups)}")
            return record

    def notice_sheet(self, actor: UserInfo, group_id: int) -> str:
        """The plain-language notice and consent sheet for the people a group analyses (Markdown, offered as a
        file): what is read and kept, for how long, who sees it, how to withdraw, the legal reminder and the
        model's known limits. Anyone with access to the group; not audited: it holds no subject's data."""
        with self._unit(actor, write=False) as (s, me):
            group = require_group(s, me, group_id)
            admins = s.scalar(select(func.count()).where(User.role == "admin", User.is_active)) or 0
            text_ = notice_sheet(
                self._deployment_info(s),
                {
                    "name": group.name,
                    "kind": group.kind,
                    "keep_images": group.keep_images,
                    "retention_days": group.retention_days,
                },
                {"administrator": int(admins)} | self._group_access_counts(s, group_id),
                self._figures_in_use(s),
            )
            return text_

    @staticmethod
    def _figures_in_use(s: Session) -> dict:
        """The active model's version, with the shipped model card's figures only when it is the shipped model
        (`db.deployment.model_in_use`; with none active the app serves the shipped one)."""
        row = s.scalar(select(ModelVersion).where(ModelVersion.is_active))
        in_use = model_in_use(Service._model_info(s, row) if row is not None else None, SHIPPED_CHECKPOINT)
        return {**(in_use.figures or {}), "model_version": in_use.version}

    @staticmethod
    def _deployment_info(s: Session) -> DeploymentInfo | None:
        row = s.get(Deployment, 1)
        if row is None:
            return None
        who = s.get(User, row.recorded_by) if row.recorded_by is not None else None
        return DeploymentInfo(
            organisation=row.organisation,
            contact=row.contact,
            jurisdiction=row.jurisdiction,
            setting=row.setting,
            purpose=row.purpose,
            protocol_ref=row.protocol_ref or "",
            recorded_by=_name(who),
            recorded_at=row.recorded_at,
        )

    def _require_analysis_allowed(self, s: Session, simulated: bool = False) -> None:
        """Refuse (PermissionDenied, audited as "denied") to store readings inferred from people's faces while
        the deployment rule refuses analysis. Simulated captures infer nothing from anyone and pass."""
        if simulated:
            return
        verdict = analysis_allowed(self._deployment_info(s))
        if not verdict.allowed:
            raise PermissionDenied(f"analysis is switched off: {verdict.reason} ({verdict.article})")

    @staticmethod
    def _group_access_counts(s: Session, group_id: int) -> dict[str, int]:
        """Active accounts granted the group, per role (administrators see every group and are not counted)."""
        rows = s.execute(
            select(User.role, func.count())
            .join(GroupAccess, GroupAccess.user_id == User.id)
            .where(GroupAccess.group_id == group_id, User.is_active)
            .group_by(User.role)
        ).all()
        return {role: int(n) for role, n in rows}

    def _group_processing(self, s: Session, group: Group) -> dict:
        """One group's line of the record of processing."""
        subjects = select(Subject.id).where(Subject.group_id == group.id)
        captures = (
            select(Capture.id).join(Meeting, Capture.session_id == Meeting.id).where(Meeting.group_id == group.id)
        )

        def count(stmt) -> int:
            return int(s.scalar(stmt) or 0)

        return {
            "id": group.id,
            "name": group.name,
            "kind": group.kind,
            "simulated": group.is_simulated,
            "photos_kept": group.keep_images,
            "retention_days": group.retention_days,
            "retention": "until deleted" if group.retention_days is None else f"{group.retention_days} days",
            "subjects": count(select(func.count()).select_from(Subject).where(Subject.group_id == group.id)),
            "consent_granted": count(
                select(func.count())
                .select_from(Subject)
                .where(Subject.group_id == group.id, Subject.consent == "granted")
            ),
            "sessions": count(select(func.count()).select_from(Meeting).where(Meeting.group_id == group.id)),
            "readings": count(select(func.count()).select_from(Reading).where(Reading.capture_id.in_(captures))),
            "kept_images": count(
                select(func.count()).select_from(Capture).where(Capture.id.in_(captures), Capture.image.is_not(None))
            ),
            "subjects_with_outcomes": count(
                select(func.count(func.distinct(Outcome.subject_id))).where(Outcome.subject_id.in_(subjects))
            ),
            "access": self._group_access_counts(s, group.id),
        }

    # ---------------------------------------------------------------- models (vadcore.model_check)

    def register_model(self, actor: UserInfo, path: str | Path) -> ModelVersionInfo:
        """Register a checkpoint: its sha256 and the report of `vadcore.model_check.check_checkpoint` are stored,
        whether it passed or not (a failed one can never be activated). Administrators only; audited. The same
        file (by sha256) twice is refused, naming the version it was registered as."""
        with self._unit(actor, write=False) as (_, me):
            require_admin(me)  # before the check, which takes seconds
        info = self._register(Path(path), actor)
        logger.info("model %s registered by %s: passed=%s", info.version, actor.username, info.passed)
        return info

    def list_models(self, actor: UserInfo) -> list[ModelVersionInfo]:
        """Every registered checkpoint, newest first. Administrators only."""
        with self._unit(actor, write=False) as (s, me):
            require_admin(me)
            rows = s.scalars(select(ModelVersion).order_by(ModelVersion.registered_at.desc(), ModelVersion.id.desc()))
            return [self._model_info(s, row) for row in rows]

    def activate_model(self, actor: UserInfo, model_id: int) -> ModelVersionInfo:
        """Make a registered checkpoint the one the app serves (at the next run of any page). Refused with the
        failed checks named unless it passed; the refusal is audited too. Administrators only; audited."""
        refused: list[str] = []
        with self._unit(actor) as (s, me):
            require_admin(me)
            row = self._get(s, ModelVersion, model_id)
            if not row.passed:
                refused = self._model_info(s, row).failed or ["the check did not pass"]
                self._audit(s, me, "activate_model_refused", "model_version", row.id, f"{row.version}: {refused}")
            else:
                previous = s.scalar(select(ModelVersion.version).where(ModelVersion.is_active))
                self._make_active(s, row, me)
                self._audit(s, me, "activate_model", "model_version", row.id, f"{row.version} (was {previous})")
                info = self._model_info(s, row)
        if refused:
            failed = "; ".join(refused)
            raise InvalidInput(f"model {model_id} did not pass its check and cannot be activated: {failed}")
        logger.info("model %s activated by %s", info.version, actor.username)
        return info

    def rollback_model(self, actor: UserInfo) -> ModelVersionInfo:
        """Re-activate the model that was active before the current one (the passed, inactive model activated
        most recently; a second rollback undoes the first). Administrators only; audited."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            current = s.scalar(select(ModelVersion).where(ModelVersion.is_active))
            row = s.scalar(
                select(ModelVersion)
                .where(ModelVersion.passed, ~ModelVersion.is_active, ModelVersion.activated_at.is_not(None))
                .order_by(ModelVersion.activated_at.desc(), ModelVersion.id.desc())
                .limit(1)
            )
            if row is None:
                raise InvalidInput("no earlier active model to go back to")
            self._make_active(s, row, me)
            was = current.version if current is not None else None
            self._audit(s, me, "rollback_model", "model_version", row.id, f"{row.version} (was {was})")
            info = self._model_info(s, row)
        logger.info("model rolled back to %s by %s", info.version, actor.username)
        return info

    def active_model(self, actor: UserInfo | None = None) -> ModelVersionInfo | None:
        """The model the app serves. The configured checkpoint (`VADLENS_CHECKPOINT`, else the shipped one) and
        the shipped one are registered (and checked) automatically the first time they are seen; while nothing
        is active, the configured one is activated if it passed, else the shipped one if it passed. None only
        when nothing registered passed. Any logged-in user (`actor`), or the app itself (None); not audited."""
        if actor is not None:
            with self._unit(actor, write=False):
                pass  # the log-in must still count
        for path in dict.fromkeys((get_settings().checkpoint, SHIPPED_CHECKPOINT)):
            try:
                self._register_if_new(path)
            except InvalidInput as e:  # e.g. VADLENS_CHECKPOINT names no file: the registry still serves
                logger.warning("model %s not registered: %s", path, e)
        with transaction(self._sessions, write=False) as s:
            row = s.scalar(select(ModelVersion).where(ModelVersion.is_active))
            if row is not None:
                return self._model_info(s, row)
        with transaction(self._sessions) as s:
            if s.scalar(select(ModelVersion).where(ModelVersion.is_active)) is None:  # not activated meanwhile
                shas = [self._file_sha(p) for p in dict.fromkeys((get_settings().checkpoint, SHIPPED_CHECKPOINT))]
                for sha in shas:
                    row = s.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha, ModelVersion.passed))
                    if row is not None:
                        self._make_active(s, row, None)
                        self._audit(s, None, "activate_model", "model_version", row.id, f"{row.version} (first start)")
                        logger.info("model %s activated: nothing was active", row.version)
                        break
            row = s.scalar(select(ModelVersion).where(ModelVersion.is_active))
            return None if row is None else self._model_info(s, row)

    def _register_if_new(self, path: Path) -> None:
        if not path.is_file():
            raise InvalidInput(f"no checkpoint at {path}")
        sha = self._file_sha(path)
        with transaction(self._sessions, write=False) as s:
            if s.scalar(select(ModelVersion.id).where(ModelVersion.sha256 == sha)) is not None:
                return
        try:
            self._register(path, None)
        except InvalidInput:  # another process registered it meanwhile
            pass

    @staticmethod
    def _file_sha(path: Path) -> str:
        """The file's sha256, remembered per (path, size, mtime): the app asks at every run."""
        stat = path.stat()
        return _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)

    def _register(self, path: Path, actor: UserInfo | None) -> ModelVersionInfo:
        # Imported here: the check loads torch, which pages that only read the database must not pay for.
        from vadcore.checkpoint import CheckpointError
        from vadcore.model_check import CheckUnavailable, check_checkpoint

        path = path.expanduser().resolve()
        try:
            report = check_checkpoint(path)  # outside any transaction: it takes seconds
        except (CheckpointError, CheckUnavailable) as e:  # nothing registered: it can be registered once checked
            raise InvalidInput(str(e)) from e
        # the file's own version names it for people; the sha256 prefix tells apart two files that share one
        version = f"{(report.model_version or path.stem)[:51]}+{report.sha256[:12]}"
        with transaction(self._sessions) as s:
            me = self._load_actor(s, actor) if actor is not None else None
            if me is not None:
                require_admin(me)
            known = s.scalar(select(ModelVersion).where(ModelVersion.sha256 == report.sha256))
            if known is not None:
                raise InvalidInput(f"this file is already registered, as {known.version}")
            row = ModelVersion(
                version=version,
                path=str(path),
                sha256=report.sha256,
                registered_at=utcnow(),
                registered_by=me.id if me is not None else None,
                check_report=json.dumps(report.to_dict()),
                passed=report.passed,
                is_active=False,
            )
            s.add(row)
            _flush_unique(s, f"this file is already registered, as {version}")
            detail = f"{version} passed={report.passed} accuracy={report.accuracy} signs={report.sign_agreement}"
            self._audit(s, me, "register_model", "model_version", row.id, detail)
            return self._model_info(s, row)

    @staticmethod
    def _make_active(s: Session, row: ModelVersion, me: User | None) -> None:
        # One statement over every row: concurrent activations wait on each other's row locks, so exactly one
        # model stays active (a WHERE is_active filter could miss a row activated meanwhile).
        s.execute(
            update(ModelVersion)
            .values(is_active=ModelVersion.id == row.id)
            .execution_options(synchronize_session=False)
        )
        s.execute(
            update(ModelVersion)
            .where(ModelVersion.id == row.id)
            .values(activated_at=utcnow(), activated_by=me.id if me is not None else None)
            .execution_options(synchronize_session=False)
        )
        s.refresh(row)

    @staticmethod
    def _model_info(s: Session, row: ModelVersion) -> ModelVersionInfo:
        def who(user_id: int | None) -> str:
            return _name(s.get(User, user_id)) if user_id is not None else ""

        try:
            report = json.loads(row.check_report or "{}")
        except ValueError:
            report = {"failed": ["the stored check report is unreadable"]}
        return ModelVersionInfo(
            id=row.id,
            version=row.version,
            path=row.path,
            sha256=row.sha256,
            registered_at=row.registered_at,
            registered_by=who(row.registered_by),
            passed=row.passed,
            is_active=row.is_active,
            activated_at=row.activated_at,
            activated_by=who(row.activated_by),
            report=report,
        )


@lru_cache(maxsize=32)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file; size and mtime are part of the cache key, so a replaced file is hashed again."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# Characters a subject code may not hold: controls, format characters (zero-width space and joiner, the
# bidirectional overrides that make a code read differently than it is stored), private-use and surrogate
# code points, and line or paragraph separators. They make look-alike codes and garble lists and exports.
_FORBIDDEN_CODE_CATEGORIES = {"Cc": "control", "Cf": "invisible formatting", "Co": "private-use", "Cs": "surrogate"}
_FORBIDDEN_CODE_CATEGORIES |= {"Zl": "line separator", "Zp": "paragraph separator"}


def normalise_subject_code(code: str) -> str:
    """`code` NFKC-normalised and stripped, or InvalidInput saying what is wrong with it: empty, longer than
    SUBJECT_CODE_MAX_CHARS, or holding a control or invisible formatting character."""
    if not isinstance(code, str):
        raise InvalidInput("a subject code is text")
    code = unicodedata.normalize("NFKC", code).strip()
    if not code:
        raise InvalidInput("a subject needs a code")
    for char in code:
        kind = _FORBIDDEN_CODE_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            raise InvalidInput(
                f"a subject code may not hold {kind} characters (found U+{ord(char):04X}); type it again by hand"
            )
    if len(code) > SUBJECT_CODE_MAX_CHARS:
        raise InvalidInput(f"a subject code has at most {SUBJECT_CODE_MAX_CHARS} characters (this one has {len(code)})")
    return code


def _check_length(text: str, what: str, limit: int) -> None:
    """Refuse in plain words what the column could not hold (PostgreSQL would raise a database error)."""
    if len(text) > limit:
        raise InvalidInput(f"{what} holds at most {limit} characters ({len(text)} given)")


def subject_code_key(code: str) -> str:
    """What makes two subject codes the same code: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", code).casefold()


# Lower-case words inside names ("Ludwig van Beethoven", "Ana de Souza"): they do not make a name a code.
_NAME_PARTICLES = frozenset({"van", "von", "der", "den", "de", "da", "di", "del", "du", "la", "le", "ten", "zu"})


def looks_like_a_name(code: str) -> bool:
    """Whether a subject code reads like a person's name rather than a pseudonym: one capitalised word of
    letters only, longer than two ("Anna"), or two to four words of letters, at least two of them capitalised
    ("Anna Schmidt", "Anna-Lena O'Neill", "Ana de Souza"). A heuristic for a warning, never a refusal: codes
    with a digit or a symbol ("S-014", "4B-Anna") and all-capital codes ("ABC") do not match."""
    words = unicodedata.normalize("NFKC", code).split()

    def capitalised(word: str) -> bool:  # "Anna", "Anna-Lena", "O'Neill": letters, joined by - or '
        parts = re.split(r"[-'’]", word)
        return all(p.isalpha() and p[0].isupper() and (len(p) == 1 or not p.isupper()) for p in parts)

    if len(words) == 1:
        return len(words[0]) > 2 and words[0].isalpha() and capitalised(words[0])
    if not 2 <= len(words) <= 4 or words[0] in _NAME_PARTICLES:
        return False
    named = [w for w in words if w not in _NAME_PARTICLES]
    return len(named) >= 2 and all(capitalised(w) for w in named)


def _end_logins(s: Session, now: datetime, reason: str, *where: ColumnElement[bool]) -> int:
    """End the open log-in records that match `where` (their cookies then open nothing); how many."""
    result = s.execute(
        update(LoginSession)
        .where(LoginSession.ended_at.is_(None), *where)
        .values(ended_at=now, end_reason=reason, handoff_hash=None)
    )
    return cast(CursorResult, result).rowcount


def _delete(s: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    """Delete the rows of `model` that match `where`; how many went. The ORM's copies are not synchronised:
    the callers read nothing they deleted afterwards."""
    result = s.execute(delete(model).where(*where).execution_options(synchronize_session=False))
    return int(cast(CursorResult, result).rowcount)


def _plain_line(value: str, what: str, *, required: bool, max_chars: int = 200) -> str:
    """A one-line text an administrator typed (organisation, contact, protocol): stripped, bounded, no control
    or invisible formatting characters (they garble notices and hide what a record says)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} is text")
    value = unicodedata.normalize("NFKC", value).strip()
    if required and not value:
        raise InvalidInput(f"the {what} is required")
    if len(value) > max_chars:
        raise InvalidInput(f"the {what} holds at most {max_chars} characters ({len(value)} given)")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") for c in value):
        raise InvalidInput(f"the {what} contains a control or invisible character")
    return value


def _counted(counts: Mapping[str, int]) -> str:
    """Counts for an audit row: `sessions=2 captures=5 …`."""
    return " ".join(f"{key}={value}" for key, value in counts.items())


def _subject_ref(subject_id: int | None) -> str:
    """A reading's subject in an audit row: the id (codes are not copied into the log), else "anonymous"."""
    return "anonymous" if subject_id is None else str(subject_id)


def _user_info(user: User, logged_in_at: datetime | None = None) -> UserInfo:
    return UserInfo(user.id, user.username, user.role, user.display_name, user.is_active, logged_in_at)


def _checked_username(username: str) -> str:
    username = username.strip()
    if not re.fullmatch(r"[A-Za-z0-9._@-]{2,64}", username):
        raise InvalidInput("username: 2–64 letters, digits or . _ @ -")
    return username


def _lock_until(failures: int, now: datetime) -> datetime | None:
    """When an account name with `failures` wrong passwords in a row may try again (None: at once)."""
    if failures < LOCK_AFTER:
        return None
    return now + min(LOCK_FIRST * 2 ** min(failures - LOCK_AFTER, 10), LOCK_MAX)


def _serialise(s: Session, key: int) -> None:
    """Make concurrent transactions that call this with the same key run one after the other (PostgreSQL:
    a transaction-scoped advisory lock; SQLite writers are serialised by BEGIN IMMEDIATE already)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _flush_unique(s: Session, message: str) -> None:
    """Flush; a unique constraint broken by a concurrent transaction becomes InvalidInput(`message`)."""
    try:
        s.flush()
    except IntegrityError as exc:
        raise InvalidInput(message) from exc


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput("times must carry a time zone (e.g. datetime.now(timezone.utc))")
    return moment.astimezone(UTC)


def _check_reading(r: FaceReading) -> None:
    if r.label not in CLASS_NAMES:
        raise InvalidInput(f"unknown class {r.label!r}")
    if set(r.probabilities) != set(CLASS_NAMES):
        raise InvalidInput("probabilities must name each of the 7 classes")
    probs = list(r.probabilities.values())
    if not all(math.isfinite(p) and 0 <= p <= 1 for p in probs) or abs(sum(probs) - 1) > 1e-3:
        raise InvalidInput("probabilities must lie in 0…1 and sum to 1")
    for dim in VAD_DIMS:
        value = getattr(r, dim)
        if not (math.isfinite(value) and -1 - 1e-6 <= value <= 1 + 1e-6):
            raise InvalidInput(f"{dim} must lie in −1…+1")
    if not set(r.quality_flags) <= set(QUALITY_FLAGS):
        raise InvalidInput(f"quality flags must be among {QUALITY_FLAGS}")


def _reading_row(
    capture_id: int,
    index: int,
    r: FaceReading,
    subject_id: int | None,
    frame_time_s: float | None = None,
    track_id: int | None = None,
) -> Reading:
    box = r.box or (None, None, None, None)
    return Reading(
        capture_id=capture_id,
        subject_id=subject_id,
        face_index=index,
        frame_time_s=frame_time_s,
        track_id=track_id,
        box_x=box[0],
        box_y=box[1],
        box_w=box[2],
        box_h=box[3],
        detection_score=r.detection_score,
        label=r.label,
        **{f"p_{c}": float(r.probabilities[c]) for c in CLASS_NAMES},
        valence=float(r.valence),
        arousal=float(r.arousal),
        dominance=float(r.dominance),
        model_version=r.model_version,
        consistency_violations=",".join(r.consistency_violations),
        quality_flags=",".join(r.quality_flags),
    )
