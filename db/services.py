"""The service layer: the only way the app reads or writes VAD Lens data.

    service = Service(make_engine())           # after db.init_db(engine)

Every call that acts for someone takes the acting user (`UserInfo`, from `authenticate`) first,
re-reads that account (a disabled account is refused at once), checks its role and group access
here, not in the UI, and runs in one transaction: a failure midway leaves nothing written.
Refusals raise `PermissionDenied` and leave a "denied" row in the audit log; every access to
subject data leaves an audit row too. Other errors: `NotFound`, `InvalidInput` (rules such as
consent or simulated-data separation), `MixedDataError`, `OutcomeCSVError` (unreadable CSV).

Accounts
    needs_first_admin() -> bool
    create_first_admin(username, password, display_name="") -> UserInfo
    authenticate(username, password) -> UserInfo | None
    create_user(actor, username, password, role, display_name="") -> UserInfo          [admin]
    list_users(actor) -> list[UserInfo]                                                 [admin]
    set_password(actor, user_id, new_password) -> None                 [admin, for another user]
    change_password(actor, current_password, new_password) -> None                       [self]
    deactivate_user(actor, user_id) -> None                                             [admin]
Groups and periods
    create_group(actor, name, kind, keep_images=False, is_simulated=False) -> GroupInfo [admin]
    grant_access(actor, user_id, group_id) / revoke_access(...) -> None                 [admin]
    list_groups(actor) -> list[GroupInfo]
    create_period(actor, name, starts_on, ends_on) -> PeriodInfo                        [admin]
    list_periods(actor) -> list[PeriodInfo]
Subjects
    create_subject(actor, group_id, code, consent="pending", is_simulated=False) -> SubjectInfo
    list_subjects(actor, group_id=None) -> list[SubjectInfo]
    set_consent(actor, subject_id, consent) -> SubjectInfo
    delete_subject(actor, subject_id) -> None  (deletes their readings, outcomes and timeline notes too)
Sessions, captures, readings
    create_session(actor, group_id, started_at=None, context_note="") -> SessionInfo
    list_sessions(actor, group_id=None) -> list[SessionInfo]
    save_capture(actor, session_id, readings, assignments, checksum, source,
                 image_bytes=None, captured_at=None) -> CaptureResult
    save_video_session(actor, group_id, faces, assignments, checksum, context_note="",
                       started_at=None, thumbnails_png=None) -> CaptureResult
                       (a new session, its one "video" capture and every reading, track → subject)
    capture_image(actor, capture_id) -> bytes | None   (a photo, or a video's contact sheet)
    readings_frame(actor, group_id=None, session_id=None, subject_id=None,
                   start=None, end=None) -> pandas.DataFrame
                   (a video reading's captured_at is the capture's plus its frame_time_s)
    export_readings_csv(actor, **same filters) -> str
Timelines                                                                     [admin, psychologist]
    alert_rule(actor, group_id) -> AlertRuleInfo          (the default rule while none was set)
    set_alert_rule(actor, group_id, rule) -> AlertRuleInfo       (replaces the group's rule; audited)
    add_timeline_note(actor, subject_id, text) -> TimelineNoteInfo  (plain text, 1–2,000 characters)
    timeline_notes(actor, subject_id) -> list[TimelineNoteInfo]     (oldest first; the read is audited)
Outcomes and prediction
    import_outcomes(actor, group_id, csv_source, grade_range=None, dry_run=False) -> ImportReport
    outcomes_frame(actor, group_id) -> pandas.DataFrame
    training_data(actor, group_ids) -> pandas.DataFrame   (features + outcomes; never mixed)
Administration
    audit_log(actor, limit=500) -> pandas.DataFrame                                     [admin]
    database_size(actor) -> int (bytes)                                                 [admin]
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pandas as pd
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session

from db.access import (
    require_admin,
    require_capture,
    require_group,
    require_meeting,
    require_subject,
    require_timeline_role,
    restrict_to_visible,
)
from db.engine import session_factory, transaction
from db.enums import CAPTURE_SOURCES, CONSENT_STATUSES, GROUP_KINDS, KIND_FOR_ROLE, ROLES, TIMELINE_NOTE_MAX_CHARS
from db.errors import AccountDisabled, InvalidInput, NotFound, PermissionDenied
from db.models import (
    PROBABILITY_COLUMNS,
    AlertRuleSetting,
    AuditEntry,
    Capture,
    Group,
    GroupAccess,
    Meeting,
    Outcome,
    Period,
    Reading,
    Subject,
    TimelineNote,
    User,
    utcnow,
)
from db.security import hash_password, needs_rehash, verify_password
from db.views import (
    AlertRuleInfo,
    CaptureResult,
    GroupInfo,
    ImportReport,
    PeriodInfo,
    SessionInfo,
    SubjectInfo,
    TimelineNoteInfo,
    UserInfo,
    view,
)
from vadcore.features import DEFAULT_ALERT_RULE, AlertRule, PeriodSpan, subject_period_features
from vadcore.outcomes import MixedDataError, OutcomeCSVError, read_outcomes_csv, training_table
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS

if TYPE_CHECKING:  # the service reads only their fields; importing vadcore.video would load PyAV
    from vadcore.video import VideoFace

__all__ = ["Service", "PermissionDenied", "NotFound", "InvalidInput", "MixedDataError", "OutcomeCSVError"]

_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The date filters of `readings_frame` select video readings by capture start and frame time; a video is
# assumed to be shorter than this, so that the database can narrow the rows before the exact filter.
MAX_VIDEO_SPAN = timedelta(hours=24)


class Service:
    """VAD Lens operations on one database; safe to share between threads (one transaction
    per call)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = session_factory(engine)

    # ---------------------------------------------------------------- plumbing

    @contextmanager
    def _unit(self, actor: UserInfo) -> Iterator[tuple[Session, User]]:
        """One transaction acting as `actor`, re-read from the database (refused if disabled since)."""
        with self._refusals_audited(actor), transaction(self._sessions) as s:
            yield s, self._load_actor(s, actor)

    @contextmanager
    def _refusals_audited(self, actor: UserInfo | None) -> Iterator[None]:
        """A refusal inside the block is audited in a transaction of its own (the block's is rolled back)."""
        try:
            yield
        except PermissionDenied as exc:
            with transaction(self._sessions) as s:
                self._audit(s, actor, "denied", detail=str(exc))
            raise

    @staticmethod
    def _load_actor(s: Session, actor: UserInfo) -> User:
        user = s.get(User, actor.id)
        if user is None or not user.is_active:
            raise AccountDisabled(f"account {actor.username!r} is disabled or removed")
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
        s.add(
            AuditEntry(
                user_id=actor.id if actor else None,
                username=actor.username if actor else "",
                action=action,
                object_type=object_type,
                object_id=object_id,
                detail=detail,
            )
        )

    # ---------------------------------------------------------------- accounts

    def needs_first_admin(self) -> bool:
        """True while no active administrator exists (the app then asks to run create_admin)."""
        with transaction(self._sessions) as s:
            return s.scalar(select(func.count()).where(User.role == "admin", User.is_active)) == 0

    def create_first_admin(self, username: str, password: str, display_name: str = "") -> UserInfo:
        """Create the first administrator; refused once one exists."""
        with self._refusals_audited(None), transaction(self._sessions) as s:
            if s.scalar(select(func.count()).where(User.role == "admin", User.is_active)):
                raise PermissionDenied("an administrator already exists; ask them for an account")
            user = self._new_user(s, username, password, "admin", display_name)
            self._audit(s, user, "create_first_admin", "user", user.id)
            return view(UserInfo, user)

    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """The user if the password matches an active account, else None (audited either way)."""
        with transaction(self._sessions) as s:
            user = s.scalar(select(User).where(User.username == username))
            ok = verify_password(user.password_hash if user else None, password)
            if user is None or not ok or not user.is_active:
                self._audit(s, None, "login_failed", detail=f"username={username[:64]!r}")
                return None
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            self._audit(s, user, "login", "user", user.id)
            return view(UserInfo, user)

    def create_user(self, actor: UserInfo, username: str, password: str, role: str, display_name: str = "") -> UserInfo:
        with self._unit(actor) as (s, me):
            require_admin(me)
            user = self._new_user(s, username, password, role, display_name)
            self._audit(s, me, "create_user", "user", user.id, f"role={role}")
            return view(UserInfo, user)

    def list_users(self, actor: UserInfo) -> list[UserInfo]:
        with self._unit(actor) as (s, me):
            require_admin(me)
            return [view(UserInfo, u) for u in s.scalars(select(User).order_by(User.username))]

    def set_password(self, actor: UserInfo, user_id: int, new_password: str) -> None:
        """An administrator resets another account's password (one's own: `change_password`)."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            if me.id == user_id:
                raise InvalidInput("change your own password on the My account page; it asks for the current one")
            user = self._get(s, User, user_id)
            user.password_hash = self._hashed(new_password)
            self._audit(s, me, "set_password", "user", user_id)

    def change_password(self, actor: UserInfo, current_password: str, new_password: str) -> None:
        """Change one's own password; refused unless `current_password` is right (so an unattended
        logged-in browser cannot take the account over)."""
        with self._unit(actor) as (s, me):
            if not verify_password(me.password_hash, current_password):
                raise InvalidInput("the current password is wrong; the password was not changed")
            me.password_hash = self._hashed(new_password)
            self._audit(s, me, "change_password", "user", me.id)

    def deactivate_user(self, actor: UserInfo, user_id: int) -> None:
        """Disable an account (kept for the audit trail); its sessions are refused at once."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            if me.id == user_id:
                raise InvalidInput("you cannot disable your own account")
            self._get(s, User, user_id).is_active = False
            self._audit(s, me, "deactivate_user", "user", user_id)

    def _new_user(self, s: Session, username: str, password: str, role: str, display_name: str) -> User:
        username = username.strip()
        if not re.fullmatch(r"[A-Za-z0-9._@-]{2,64}", username):
            raise InvalidInput("username: 2–64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {ROLES}")
        if s.scalar(select(User.id).where(User.username == username)) is not None:
            raise InvalidInput(f"username {username!r} is taken")
        user = User(
            username=username,
            role=role,
            display_name=display_name,
            password_hash=self._hashed(password),
            is_active=True,
        )
        s.add(user)
        s.flush()
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
            if s.scalar(select(Group.id).where(Group.name == name.strip())) is not None:
                raise InvalidInput(f"group {name!r} exists")
            group = Group(name=name.strip(), kind=kind, keep_images=keep_images, is_simulated=is_simulated)
            s.add(group)
            s.flush()
            self._audit(s, me, "create_group", "group", group.id, f"kind={kind} simulated={is_simulated}")
            return view(GroupInfo, group)

    def grant_access(self, actor: UserInfo, user_id: int, group_id: int) -> None:
        """Let a teacher see a class, or a psychologist a caseload (not the other way round)."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            user = self._get(s, User, user_id)
            group = self._get(s, Group, group_id)
            if KIND_FOR_ROLE.get(user.role) != group.kind:
                raise InvalidInput(f"a {user.role} cannot be given a {group.kind}")
            if s.get(GroupAccess, (user_id, group_id)) is None:
                s.add(GroupAccess(user_id=user_id, group_id=group_id))
            self._audit(s, me, "grant_access", "group", group_id, f"user={user.username}")

    def revoke_access(self, actor: UserInfo, user_id: int, group_id: int) -> None:
        with self._unit(actor) as (s, me):
            require_admin(me)
            s.execute(delete(GroupAccess).where(GroupAccess.user_id == user_id, GroupAccess.group_id == group_id))
            self._audit(s, me, "revoke_access", "group", group_id, f"user_id={user_id}")

    def list_groups(self, actor: UserInfo) -> list[GroupInfo]:
        with self._unit(actor) as (s, me):
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
            overlapping = s.scalar(select(Period.name).where(Period.starts_on < ends_on, Period.ends_on > starts_on))
            if overlapping is not None:
                raise InvalidInput(f"period overlaps {overlapping!r}")
            if s.scalar(select(Period.id).where(Period.name == name)) is not None:
                raise InvalidInput(f"period {name!r} exists")
            period = Period(name=name, starts_on=starts_on, ends_on=ends_on)
            s.add(period)
            s.flush()
            self._audit(s, me, "create_period", "period", period.id, name)
            return view(PeriodInfo, period)

    def list_periods(self, actor: UserInfo) -> list[PeriodInfo]:
        with self._unit(actor) as (s, _):
            return [view(PeriodInfo, p) for p in s.scalars(select(Period).order_by(Period.starts_on))]

    # ---------------------------------------------------------------- subjects

    def create_subject(
        self, actor: UserInfo, group_id: int, code: str, consent: str = "pending", is_simulated: bool = False
    ) -> SubjectInfo:
        """A pseudonymous subject in a group; simulated subjects only go into simulated groups."""
        with self._unit(actor) as (s, me):
            group = require_group(s, me, group_id)
            code = code.strip()
            if not code:
                raise InvalidInput("a subject needs a code")
            if consent not in CONSENT_STATUSES:
                raise InvalidInput(f"consent must be one of {CONSENT_STATUSES}")
            if is_simulated != group.is_simulated:
                raise InvalidInput("simulated subjects belong in simulated groups only, and real ones in real groups")
            key = subject_code_key(code)
            if s.scalar(select(Subject.id).where(Subject.group_id == group_id, Subject.code_key == key)) is not None:
                raise InvalidInput(f"code {code!r} is taken in {group.name!r}")
            subject = Subject(group_id=group_id, code=code, code_key=key, consent=consent, is_simulated=is_simulated)
            s.add(subject)
            s.flush()
            self._audit(s, me, "create_subject", "subject", subject.id)
            return view(SubjectInfo, subject)

    def list_subjects(self, actor: UserInfo, group_id: int | None = None) -> list[SubjectInfo]:
        with self._unit(actor) as (s, me):
            stmt = select(Subject).order_by(Subject.group_id, Subject.code)
            if group_id is not None:
                require_group(s, me, group_id)
                stmt = stmt.where(Subject.group_id == group_id)
            subjects = [view(SubjectInfo, x) for x in s.scalars(restrict_to_visible(stmt, me, Subject.group_id))]
            self._audit(s, me, "list_subjects", "group", group_id, f"{len(subjects)} subjects")
            return subjects

    def set_consent(self, actor: UserInfo, subject_id: int, consent: str) -> SubjectInfo:
        """Record consent; withdrawing it unassigns nothing by itself (delete the subject to erase)."""
        with self._unit(actor) as (s, me):
            if consent not in CONSENT_STATUSES:
                raise InvalidInput(f"consent must be one of {CONSENT_STATUSES}")
            subject = require_subject(s, me, subject_id)
            subject.consent = consent
            self._audit(s, me, "set_consent", "subject", subject_id, consent)
            return view(SubjectInfo, subject)

    def delete_subject(self, actor: UserInfo, subject_id: int) -> None:
        """Delete a subject with their readings, outcomes and timeline notes (ON DELETE CASCADE)."""
        with self._unit(actor) as (s, me):
            subject = require_subject(s, me, subject_id)
            n = s.scalar(select(func.count()).where(Reading.subject_id == subject_id))
            notes = s.scalar(select(func.count()).where(TimelineNote.subject_id == subject_id))
            s.execute(delete(Subject).where(Subject.id == subject_id))
            self._audit(
                s, me, "delete_subject", "subject", subject_id, f"code={subject.code} readings={n} notes={notes}"
            )

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
        with self._unit(actor) as (s, me):
            stmt = select(Meeting).order_by(Meeting.started_at.desc())
            if group_id is not None:
                require_group(s, me, group_id)
                stmt = stmt.where(Meeting.group_id == group_id)
            return [view(SessionInfo, m) for m in s.scalars(restrict_to_visible(stmt, me, Meeting.group_id))]

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
        with self._unit(actor) as (s, me):
            capture, _ = require_capture(s, me, capture_id)
            self._audit(s, me, "view_image", "capture", capture_id)
            return capture.image

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
        with self._unit(actor) as (s, me):
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
        """The same rows as `readings_frame`, as CSV text (UTF-8, comma separated)."""
        with self._unit(actor) as (s, me):
            frame = self._readings(s, me, **filters)
            self._audit(s, me, "export_readings", "group", filters.get("group_id"), f"rows={len(frame)}")
            return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%SZ")

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
            require_subject(s, me, subject_id)
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
        stmt = restrict_to_visible(stmt, me, Group.id)
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
        with self._unit(actor) as (s, me):
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
            require_subject(s, me, subject_id)
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
        with self._unit(actor) as (s, me):
            require_timeline_role(me)
            require_subject(s, me, subject_id)
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
        `dry_run`, and report the rows that do not."""
        with self._unit(actor) as (s, me):
            require_group(s, me, group_id)
            subject_ids = dict(s.execute(select(Subject.code, Subject.id).where(Subject.group_id == group_id)).all())
            period_ids = dict(s.execute(select(Period.name, Period.id)).all())
            report = read_outcomes_csv(
                csv_source, known_subjects=set(subject_ids), known_periods=set(period_ids), grade_range=grade_range
            )
            if not dry_run:
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
        with self._unit(actor) as (s, me):
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
        predictor. Refuses (MixedDataError) groups that mix simulated and real data."""
        with self._unit(actor) as (s, me):
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
            table = training_table(features, self._outcomes(s, me, group_ids))
            self._audit(s, me, "training_data", "group", None, f"groups={[g.id for g in groups]} rows={len(table)}")
            return table

    # ---------------------------------------------------------------- administration

    def audit_log(self, actor: UserInfo, limit: int = 500) -> pd.DataFrame:
        """The newest `limit` audit rows, newest first."""
        with self._unit(actor) as (s, me):
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
            rows = s.execute(select(*cols).order_by(AuditEntry.id.desc()).limit(limit)).all()
            return pd.DataFrame(rows, columns=[c.key for c in cols])

    def database_size(self, actor: UserInfo) -> int:
        """Bytes on disk: the SQLite file with its WAL, or pg_database_size on PostgreSQL."""
        with self._unit(actor) as (s, me):
            require_admin(me)
            if self.engine.dialect.name == "postgresql":
                return int(s.scalar(text("SELECT pg_database_size(current_database())")))
            path = self.engine.url.database
            if not path or path == ":memory:":
                return int(s.scalar(text("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")))
            return sum(Path(p).stat().st_size for p in (path, f"{path}-wal") if Path(p).exists())


def subject_code_key(code: str) -> str:
    """What makes two subject codes the same code: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", code).casefold()


def _name(user: User | None) -> str:
    """How the app names an author: display name, else username; a removed account says so."""
    if user is None:
        return "(removed account)"
    return user.display_name or user.username


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
    )
