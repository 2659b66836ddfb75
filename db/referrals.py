"""Referrals and the access overview: the queries behind `Service.refer_subject`, `revoke_referral`,
`list_referrals`, `referred_to_me` and `access_overview`. The service checks roles and audits; this module reads
and writes rows inside the service's transaction.

A referral shows one subject record (one group's) to one psychologist. Subjects are per group, so "the same
pupil in another group" is a record with the same normalised code (`Subject.code_key`): a referral covers those
records only when the referrer asks for it (`same_code=True`), only in groups the referrer may see, and only
those with consent granted; each becomes a referral of its own, revoked one by one. Matching by code is opt-in
because it is right only where a school gives each pupil one code for all classes; where every class numbers
its pupils S-01, S-02…, the same code is another child.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, aliased

from db.access import restrict_to_visible
from db.errors import InvalidInput
from db.models import Group, GroupAccess, Referral, Subject, User, utcnow
from db.views import AccessEntry, ReferralInfo


def person_name(user: User | None) -> str:
    """How the app names a person: display name, else username; a removed account says so."""
    return "(removed account)" if user is None else (user.display_name or user.username)


def referrals(s: Session, *where: ColumnElement[bool]) -> list[ReferralInfo]:
    """The referrals matching `where`, oldest first, with their subject, group and people named."""
    psychologist, referrer, revoker = aliased(User), aliased(User), aliased(User)
    rows = s.execute(
        select(Referral, Subject, Group, psychologist, referrer, revoker)
        .join(Subject, Referral.subject_id == Subject.id)
        .join(Group, Subject.group_id == Group.id)
        .join(psychologist, Referral.psychologist_id == psychologist.id)
        .outerjoin(referrer, Referral.referred_by == referrer.id)
        .outerjoin(revoker, Referral.revoked_by == revoker.id)
        .where(*where)
        .order_by(Referral.created_at, Referral.id)
    ).all()
    return [
        ReferralInfo(
            id=r.id,
            subject_id=subject.id,
            subject_code=subject.code,
            group_id=group.id,
            group_name=group.name,
            consent=subject.consent,
            psychologist_id=psy.id,
            psychologist=person_name(psy),
            referred_by=person_name(by),
            created_at=r.created_at,
            revoked_at=r.revoked_at,
            revoked_by=None if r.revoked_at is None else person_name(rev),
        )
        for r, subject, group, psy, by, rev in rows
    ]


def create(s: Session, me: User, subject: Subject, psychologist: User, *, same_code: bool) -> list[Referral]:
    """Refer `subject` (and, with `same_code`, the consenting records with its code in the other groups `me` may
    see) to `psychologist`; records already referred to them are skipped. Refused unless `subject` consents.
    The rows are added, not flushed: the caller flushes with `already_referred(...)` as the message for a
    referral another request opened meanwhile (the open-referral index refuses the second one)."""
    if psychologist.role != "psychologist" or not psychologist.is_active:
        raise InvalidInput(f"{psychologist.username} is not an active psychologist; only psychologists take referrals")
    if subject.consent != "granted":
        raise InvalidInput(
            f"subject {subject.code!r} cannot be referred: consent is {subject.consent}; a referral needs consent "
            "granted (Subjects page)"
        )
    targets = [subject]
    if same_code:
        others = select(Subject).where(
            Subject.code_key == subject.code_key,
            Subject.id != subject.id,
            Subject.consent == "granted",
            Subject.is_simulated == subject.is_simulated,
        )
        targets += s.scalars(restrict_to_visible(others, me, Subject.group_id).order_by(Subject.group_id)).all()
    already = set(
        s.scalars(
            select(Referral.subject_id).where(
                Referral.psychologist_id == psychologist.id,
                Referral.revoked_at.is_(None),
                Referral.subject_id.in_([t.id for t in targets]),
            )
        )
    )
    if len(already) == len(targets):
        raise InvalidInput(already_referred(subject, psychologist))
    made = [
        Referral(subject_id=t.id, psychologist_id=psychologist.id, referred_by=me.id, created_at=utcnow())
        for t in targets
        if t.id not in already
    ]
    s.add_all(made)
    return made


def already_referred(subject: Subject, psychologist: User) -> str:
    """The refusal of a referral that is open already."""
    return f"subject {subject.code!r} is referred to {psychologist.username} already"


def end(
    s: Session, me: User, subject_ids: Sequence[int] | None = None, *, referral_id: int | None = None
) -> list[Referral]:
    """Revoke the active referrals of `subject_ids`, or the one `referral_id`; returns the rows it ended."""
    stmt = select(Referral).where(Referral.revoked_at.is_(None))
    if subject_ids is not None:
        stmt = stmt.where(Referral.subject_id.in_(subject_ids))
    if referral_id is not None:
        stmt = stmt.where(Referral.id == referral_id)
    rows = list(s.scalars(stmt.with_for_update()))
    moment = utcnow()
    for row in rows:
        row.revoked_at, row.revoked_by = moment, me.id
    s.flush()
    return rows


def access_entries(s: Session) -> list[AccessEntry]:
    """Who sees what: every grant of a group, and every referral in effect (active, consent granted), by user."""
    granter = aliased(User)
    grants = s.execute(
        select(GroupAccess, User, Group, granter)
        .join(User, GroupAccess.user_id == User.id)
        .join(Group, GroupAccess.group_id == Group.id)
        .outerjoin(granter, GroupAccess.granted_by == granter.id)
    ).all()
    entries = [
        AccessEntry(
            user.id,
            user.username,
            user.role,
            user.is_active,
            group.id,
            group.name,
            "grant",
            access.granted_at,
            "" if access.granted_by is None else person_name(by),
        )
        for access, user, group, by in grants
    ]
    users = {u.id: u for u in s.scalars(select(User))}
    for r in referrals(s, Referral.revoked_at.is_(None), Subject.consent == "granted"):
        psy = users[r.psychologist_id]
        entries.append(
            AccessEntry(
                psy.id,
                psy.username,
                psy.role,
                psy.is_active,
                r.group_id,
                r.group_name,
                "referral",
                r.created_at,
                r.referred_by,
                r.subject_id,
                r.subject_code,
                r.id,
            )
        )
    return sorted(entries, key=lambda e: (e.username, e.group_name, e.via, e.subject_code or "", e.since))
