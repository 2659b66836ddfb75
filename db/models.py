"""SQLAlchemy 2 tables of VAD Lens. The schema itself is created by Alembic (db/migrations).

Enumerations are strings with CHECK constraints, so SQLite and PostgreSQL share one schema.
Deleting a group deletes its subjects, sessions, captures and alert rule; deleting a subject deletes its
readings, outcomes and timeline notes (ON DELETE CASCADE in the database, not only in the ORM).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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
from vadcore.features import ALERT_DIRECTIONS, MAX_RUN_LENGTH
from vadcore.taxonomy import CLASS_NAMES, VAD_DIMS, VAD_MAX, VAD_MIN

PROBABILITY_COLUMNS = tuple(f"p_{name}" for name in CLASS_NAMES)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL would convert."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware one (e.g. in UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    # Named constraints, so that Alembic can alter them on both backends.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX_CHARS), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the password is changed or reset: a log-in from before it no longer counts.
    credentials_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Log-in throttling: wrong passwords in a row, and until when the account refuses log-ins.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Group(Base):
    """A class (teachers) or a clinic caseload (psychologists)."""

    __tablename__ = "groups"
    __table_args__ = (
        CheckConstraint(_in("kind", GROUP_KINDS), name="kind"),
        CheckConstraint(
            f"retention_days IS NULL OR retention_days BETWEEN 1 AND {RETENTION_DAYS_MAX}", name="retention_days"
        ),
        CheckConstraint(
            "(grade_min IS NULL AND grade_max IS NULL) OR (grade_min IS NOT NULL AND grade_max IS NOT NULL "
            "AND grade_min < grade_max)",
            name="grade_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(GROUP_NAME_MAX_CHARS), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Policy: photos are kept only where this is set; otherwise only checksum and readings.
    keep_images: Mapped[bool] = mapped_column(Boolean, default=False)
    # Demo data from scripts/demo_cohort.py; never mixed with real people.
    is_simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Policy: sessions (with their captures and readings) older than this many days are purged; None keeps them.
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The range grades must lie in (both or neither); None: any finite grade.
    grade_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    grade_max: Mapped[float | None] = mapped_column(Float, nullable=True)

    subjects: Mapped[list[Subject]] = relationship(back_populates="group", passive_deletes=True)


class GroupAccess(Base):
    """Who may see a group (admins see all groups without a row here)."""

    __tablename__ = "group_access"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class Subject(Base):
    """A student or patient, known only by a pseudonymous code unique within the group."""

    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("group_id", "code", name="uq_subjects_group_code"),
        UniqueConstraint("group_id", "code_key", name="uq_subjects_group_code_key"),
        CheckConstraint(_in("consent", CONSENT_STATUSES), name="consent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(SUBJECT_CODE_MAX_CHARS))
    # The code normalised and case-folded: what makes two codes the same (db.services.subject_code_key).
    code_key: Mapped[str] = mapped_column(String(SUBJECT_CODE_MAX_CHARS))
    consent: Mapped[str] = mapped_column(String(16), default="pending")
    is_simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[Group] = relationship(back_populates="subjects")


class Referral(Base):
    """A subject referred to a psychologist, who then sees that subject (not the rest of its group) while the
    referral is not revoked and the subject's consent is granted. Revoked ones stay as the record's history.
    No free text: a reason typed about a pupil is health data the pilot does not need to store."""

    __tablename__ = "referrals"
    # One open referral of a subject to a psychologist, even when two requests make it at once (migration 0009).
    __table_args__ = (
        Index(
            "uq_referrals_open_subject_psychologist",
            "subject_id",
            "psychologist_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    psychologist_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class Meeting(Base):
    """A lesson or an appointment (table `sessions`; named so as not to clash with ORM sessions)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    context_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Capture(Base):
    """One uploaded image or video: its checksum always, its bytes only if the group's policy says so.

    For a video (source "video") the checksum is the video's and `image` is at most a PNG contact sheet of
    its track thumbnails (the video itself is never stored); its readings carry their frame times."""

    __tablename__ = "captures"
    __table_args__ = (CheckConstraint(_in("source", CAPTURE_SOURCES), name="source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(16))
    checksum: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the uploaded bytes
    image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # photo, or a video's contact sheet
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Reading(Base):
    """One face of one capture: box, class probabilities, VAD, and the subject it was assigned to.

    A face read from a video also has its time in the video and the track (person) it belongs to; the
    reading's moment is the capture's `captured_at` plus `frame_time_s`."""

    __tablename__ = "face_readings"

    id: Mapped[int] = mapped_column(primary_key=True)
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True, nullable=True
    )
    face_index: Mapped[int] = mapped_column(Integer)
    box_x: Mapped[int | None] = mapped_column(Integer)
    box_y: Mapped[int | None] = mapped_column(Integer)
    box_w: Mapped[int | None] = mapped_column(Integer)
    box_h: Mapped[int | None] = mapped_column(Integer)
    detection_score: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(16))
    p_angry: Mapped[float] = mapped_column(Float)
    p_disgust: Mapped[float] = mapped_column(Float)
    p_fear: Mapped[float] = mapped_column(Float)
    p_happy: Mapped[float] = mapped_column(Float)
    p_sad: Mapped[float] = mapped_column(Float)
    p_surprise: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)
    valence: Mapped[float] = mapped_column(Float)
    arousal: Mapped[float] = mapped_column(Float)
    dominance: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    consistency_violations: Mapped[str] = mapped_column(String(64), default="")  # comma-separated
    # vadcore.quality's reason codes, comma-separated; "" when nothing stood out (or saved before revision 0006)
    quality_flags: Mapped[str] = mapped_column(String(64), default="", server_default="")
    frame_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds from the video's start
    track_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the track within that video


class Period(Base):
    """A named stretch of time (a term, a quarter) that outcomes and features refer to."""

    __tablename__ = "periods"
    __table_args__ = (CheckConstraint("starts_on < ends_on", name="order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(PERIOD_NAME_MAX_CHARS), unique=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)  # exclusive


class Outcome(Base):
    """A grade and/or an at-risk label for one subject in one period."""

    __tablename__ = "outcomes"
    __table_args__ = (UniqueConstraint("subject_id", "period_id", name="uq_outcomes_subject_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("periods.id", ondelete="CASCADE"))
    grade: Mapped[float | None] = mapped_column(Float)
    at_risk: Mapped[bool | None] = mapped_column(Boolean)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRuleSetting(Base):
    """A group's Timelines alert rule (vadcore.features.AlertRule), and who set it when; one per group,
    replaced when set again (the audit log keeps the earlier ones). A group without a row uses the default."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        CheckConstraint(_in("dim", VAD_DIMS), name="dim"),
        CheckConstraint(_in("direction", ALERT_DIRECTIONS), name="direction"),
        CheckConstraint(f"threshold >= {VAD_MIN} AND threshold <= {VAD_MAX}", name="threshold"),
        CheckConstraint(f"run_length >= 1 AND run_length <= {MAX_RUN_LENGTH}", name="run_length"),
    )

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    dim: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    threshold: Mapped[float] = mapped_column(Float)
    run_length: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimelineNote(Base):
    """A note a psychologist (or an administrator) leaves on a subject's timeline: plain text, never markup."""

    __tablename__ = "timeline_notes"
    __table_args__ = (CheckConstraint(f"length(body) BETWEEN 1 AND {TIMELINE_NOTE_MAX_CHARS}", name="length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[str] = mapped_column(Text)


class Deployment(Base):
    """The installation's deployment record (one row): who runs it, where, in what setting and for what purpose.
    db.deployment decides from it whether analysis may run (the EU AI Act's Art. 5(1)(f))."""

    __tablename__ = "deployment"
    __table_args__ = (
        CheckConstraint("id = 1", name="single"),
        CheckConstraint(_in("jurisdiction", JURISDICTIONS), name="jurisdiction"),
        CheckConstraint(_in("setting", DEPLOYMENT_SETTINGS), name="setting"),
        CheckConstraint(_in("purpose", DEPLOYMENT_PURPOSES), name="purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    organisation: Mapped[str] = mapped_column(String(200))  # the controller, as named on notices
    contact: Mapped[str] = mapped_column(String(200))  # where people ask or withdraw (e.g. the DPO)
    jurisdiction: Mapped[str] = mapped_column(String(16))
    setting: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    protocol_ref: Mapped[str] = mapped_column(String(200), default="")  # research: the approved protocol
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what to which object; kept when the user or the object is deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(48))
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")


class ModelVersion(Base):
    """A registered checkpoint with the report of its check (vadcore.model_check); only one that passed may be
    active, and exactly one is active once any is (the app serves it)."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The checkpoint's model_version and the start of its sha256 (≤ 64: readings store it in model_version).
    version: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    check_report: Mapped[str] = mapped_column(Text, default="{}")  # JSON of vadcore.model_check.CheckReport
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    activated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class LoginSession(Base):
    """One log-in, from the moment the password was accepted to its log-out, expiry or revocation. The browser
    holds it in an HTTP-only cookie as a random token; only the token's SHA-256 is stored (as is that of the
    one-time code the browser trades for the cookie), so the table alone cannot be replayed."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    handoff_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    user_agent_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(32), default="")
