"""Who may see what: admins see every group; teachers and psychologists only the groups they
were granted, and a psychologist also the subjects referred to them (each such subject alone, never the rest of
its group, and only where a caller asks for it with `referred=True`: reviewing readings and timeline notes).
Every lookup of a group-owned object goes through here."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from db.enums import REFERRER_ROLES, TIMELINE_ROLES
from db.errors import NotFound, PermissionDenied
from db.models import Capture, Group, GroupAccess, Meeting, Referral, Subject, User


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise PermissionDenied(f"only an administrator may do this ({user.username} is a {user.role})")


def require_timeline_role(user: User) -> None:
    """Timelines, their alert rules and notes are for administrators and psychologists (db.enums)."""
    if user.role not in TIMELINE_ROLES:
        raise PermissionDenied(
            f"timelines are open to {' and '.join(TIMELINE_ROLES)}s only ({user.username} is a {user.role})"
        )


def require_referrer(user: User) -> None:
    """Teachers and administrators refer subjects to psychologists (db.enums)."""
    if user.role not in REFERRER_ROLES:
        raise PermissionDenied(f"only teachers and administrators refer subjects ({user.username} is a {user.role})")


def visible_group_ids(user: User) -> Select | None:
    """A subquery of the group ids `user` may see, or None when they may see all of them."""
    if user.role == "admin":
        return None
    return select(GroupAccess.group_id).where(GroupAccess.user_id == user.id)


def referred_subject_ids(user: User) -> Select:
    """A subquery of the subjects a referral shows `user` now: referred to them, not revoked, and with consent
    granted (withdrawal also ends the referral; this keeps a subject hidden whatever its referral says)."""
    return (
        select(Referral.subject_id)
        .join(Subject, Subject.id == Referral.subject_id)
        .where(Referral.psychologist_id == user.id, Referral.revoked_at.is_(None), Subject.consent == "granted")
    )


def restrict_to_visible(stmt: Select, user: User, group_id_column, subject_id_column=None) -> Select:
    """Add the visibility condition on `group_id_column` to a query; with `subject_id_column`, rows of the
    subjects referred to `user` pass too (their rows only: a referral opens no group)."""
    visible = visible_group_ids(user)
    if visible is None:
        return stmt
    if subject_id_column is None:
        return stmt.where(group_id_column.in_(visible))
    return stmt.where(group_id_column.in_(visible) | subject_id_column.in_(referred_subject_ids(user)))


def require_group(session: Session, user: User, group_id: int) -> Group:
    group = session.get(Group, group_id)
    # The refusal names neither the group nor whether it exists: a group one cannot see stays unseen.
    if user.role != "admin" and (group is None or session.get(GroupAccess, (user.id, group_id)) is None):
        raise PermissionDenied(f"{user.username} has no access to group #{group_id}")
    if group is None:
        raise NotFound(f"group {group_id} does not exist")
    return group


def require_subject(session: Session, user: User, subject_id: int, *, referred: bool = False) -> Subject:
    """The subject, if `user` may see its group or (`referred=True`, for reviewing) it was referred to them."""
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"subject {subject_id} does not exist")
    if referred and user.role != "admin":
        if session.scalar(referred_subject_ids(user).where(Referral.subject_id == subject_id).limit(1)) is not None:
            return subject
    require_group(session, user, subject.group_id)
    return subject


def require_meeting(session: Session, user: User, session_id: int) -> tuple[Meeting, Group]:
    meeting = session.get(Meeting, session_id)
    if meeting is None:
        raise NotFound(f"session {session_id} does not exist")
    return meeting, require_group(session, user, meeting.group_id)


def require_capture(session: Session, user: User, capture_id: int) -> tuple[Capture, Group]:
    capture = session.get(Capture, capture_id)
    if capture is None:
        raise NotFound(f"capture {capture_id} does not exist")
    return capture, require_meeting(session, user, capture.session_id)[1]
