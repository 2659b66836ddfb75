"""Who may see what: admins see every group; teachers and psychologists only the groups they
were granted. Every lookup of a group-owned object goes through here."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from db.enums import TIMELINE_ROLES
from db.errors import NotFound, PermissionDenied
from db.models import Capture, Group, GroupAccess, Meeting, Subject, User


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise PermissionDenied(f"only an administrator may do this ({user.username} is a {user.role})")


def require_timeline_role(user: User) -> None:
    """Timelines, their alert rules and notes are for administrators and psychologists (db.enums)."""
    if user.role not in TIMELINE_ROLES:
        raise PermissionDenied(
            f"timelines are open to {' and '.join(TIMELINE_ROLES)}s only ({user.username} is a {user.role})"
        )


def visible_group_ids(user: User) -> Select | None:
    """A subquery of the group ids `user` may see, or None when they may see all of them."""
    if user.role == "admin":
        return None
    return select(GroupAccess.group_id).where(GroupAccess.user_id == user.id)


def restrict_to_visible(stmt: Select, user: User, group_id_column) -> Select:
    """Add the visibility condition on `group_id_column` to a query."""
    visible = visible_group_ids(user)
    return stmt if visible is None else stmt.where(group_id_column.in_(visible))


def require_group(session: Session, user: User, group_id: int) -> Group:
    group = session.get(Group, group_id)
    # The refusal names neither the group nor whether it exists: a group one cannot see stays unseen.
    if user.role != "admin" and (group is None or session.get(GroupAccess, (user.id, group_id)) is None):
        raise PermissionDenied(f"{user.username} has no access to group #{group_id}")
    if group is None:
        raise NotFound(f"group {group_id} does not exist")
    return group


def require_subject(session: Session, user: User, subject_id: int) -> Subject:
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"subject {subject_id} does not exist")
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
