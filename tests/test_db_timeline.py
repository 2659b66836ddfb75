"""A group's alert rule and the notes on a subject's timeline: stored, refused to the wrong people, audited,
and deleted with the subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from db.enums import TIMELINE_NOTE_MAX_CHARS
from db.services import InvalidInput, PermissionDenied
from vadcore.features import DEFAULT_ALERT_RULE, AlertRule


@pytest.fixture
def clinic(service, admin):
    """A caseload with a subject, its psychologist, a psychologist without access, and a teacher with a class."""
    svc = service
    psy = svc.create_user(admin, "psy", "psychologist-pw", "psychologist", "Pia Psych")
    other = svc.create_user(admin, "other", "other-psych-pw", "psychologist")
    teacher = svc.create_user(admin, "teacher", "teacher-password", "teacher")
    caseload = svc.create_group(admin, "Caseload A", "caseload")
    klass = svc.create_group(admin, "7a", "class")
    svc.grant_access(admin, psy.id, caseload.id)
    svc.grant_access(admin, teacher.id, klass.id)
    subject = svc.create_subject(admin, caseload.id, "C-01", consent="granted")
    pupil = svc.create_subject(admin, klass.id, "S-01", consent="granted")
    return dict(psy=psy, other=other, teacher=teacher, caseload=caseload, klass=klass, subject=subject, pupil=pupil)


def rows(service, table: str) -> int:
    with service.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def actions(service, admin, username: str) -> list[str]:
    log = service.audit_log(admin)
    return list(log.loc[log["username"] == username, "action"])


def test_a_group_uses_the_default_rule_until_one_is_set_and_then_the_stored_one(service, admin, clinic):
    group = clinic["caseload"].id
    before = service.alert_rule(clinic["psy"], group)
    assert before.rule == DEFAULT_ALERT_RULE and before.is_default and before.set_by is None

    rule = AlertRule("arousal", "above", 0.35, 2)
    t0 = datetime.now(UTC)
    saved = service.set_alert_rule(clinic["psy"], group, rule)
    assert saved.rule == rule and saved.set_by == "Pia Psych" and not saved.is_default

    stored = service.alert_rule(admin, group)  # a fresh read, by someone else
    assert stored.rule == rule and stored.set_by == "Pia Psych"
    assert stored.set_at is not None and stored.set_at.tzinfo is not None
    assert t0 - timedelta(seconds=1) <= stored.set_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert service.alert_rule(admin, clinic["klass"].id).is_default  # one rule per group

    service.set_alert_rule(admin, group, AlertRule("valence", "below", -0.5, 4))
    replaced = service.alert_rule(clinic["psy"], group)
    assert replaced.rule == AlertRule("valence", "below", -0.5, 4) and replaced.set_by == "admin"
    assert rows(service, "alert_rules") == 1
    log = service.audit_log(admin)
    assert list(log.loc[log["action"] == "set_alert_rule", "detail"]) == [
        "valence below -0.50 for 4+ sessions in a row",
        "arousal above +0.35 for 2+ sessions in a row",
    ]


def test_teachers_and_psychologists_without_access_are_refused_and_audited(service, admin, clinic):
    group, subject = clinic["caseload"].id, clinic["subject"].id
    service.add_timeline_note(clinic["psy"], subject, "first contact")
    rule = AlertRule("valence", "below", -0.1, 1)
    for who in ("teacher", "other"):
        for call in (
            lambda actor: service.alert_rule(actor, group),
            lambda actor: service.set_alert_rule(actor, group, rule),
            lambda actor: service.add_timeline_note(actor, subject, "not mine to write"),
            lambda actor: service.timeline_notes(actor, subject),
        ):
            with pytest.raises(PermissionDenied):
                call(clinic[who])
        assert actions(service, admin, who) == ["denied"] * 4
    # A teacher is refused even in their own class: timelines are not open to the teacher role.
    with pytest.raises(PermissionDenied, match="teacher"):
        service.timeline_notes(clinic["teacher"], clinic["pupil"].id)
    with pytest.raises(PermissionDenied):
        service.set_alert_rule(clinic["teacher"], clinic["klass"].id, rule)
    assert service.alert_rule(admin, group).is_default and rows(service, "timeline_notes") == 1


def test_a_note_is_plain_text_stripped_bounded_and_shown_to_those_with_access(service, admin, clinic):
    subject = clinic["subject"].id
    note = service.add_timeline_note(clinic["psy"], subject, "  Calmer after the **holidays** <b>x</b>\n")
    assert note.text == "Calmer after the **holidays** <b>x</b>" and note.author == "Pia Psych"
    longest = "x" * TIMELINE_NOTE_MAX_CHARS
    service.add_timeline_note(admin, subject, longest)
    for bad, message in (("   \n\t", "empty"), ("y" * (TIMELINE_NOTE_MAX_CHARS + 1), "at most"), ("a\x00b", "NUL")):
        with pytest.raises(InvalidInput, match=message):
            service.add_timeline_note(clinic["psy"], subject, bad)

    for reader in (clinic["psy"], admin):
        notes = service.timeline_notes(reader, subject)
        assert [(n.author, n.text) for n in notes] == [("Pia Psych", note.text), ("admin", longest)]
        assert all(n.written_at.tzinfo is not None and n.subject_id == subject for n in notes)
    assert service.timeline_notes(admin, clinic["pupil"].id) == []

    log = service.audit_log(admin)
    written = log[log["action"] == "add_timeline_note"]
    assert len(written) == 2 and set(written["object_id"]) == {subject}
    assert not log["detail"].str.contains("holidays").any()  # the audit log records that, not what, was written
    assert actions(service, admin, "psy") == ["view_timeline_notes", "add_timeline_note"]  # newest first


def test_deleting_a_subject_deletes_their_notes_and_keeps_the_groups_rule(service, admin, clinic):
    subject = clinic["subject"].id
    keep = service.create_subject(admin, clinic["caseload"].id, "C-02", consent="granted")
    service.add_timeline_note(clinic["psy"], subject, "one")
    service.add_timeline_note(clinic["psy"], subject, "two")
    service.add_timeline_note(clinic["psy"], keep.id, "stays")
    service.set_alert_rule(clinic["psy"], clinic["caseload"].id, AlertRule(run_length=2))

    service.delete_subject(clinic["psy"], subject)
    assert rows(service, "timeline_notes") == 1
    assert [n.text for n in service.timeline_notes(admin, keep.id)] == ["stays"]
    assert service.alert_rule(admin, clinic["caseload"].id).rule.run_length == 2
    log = service.audit_log(admin)
    assert "notes=2" in log.loc[log["action"] == "delete_subject", "detail"].item()


def test_the_database_refuses_rules_and_notes_out_of_range(service, admin, clinic):
    """The CHECK constraints hold even for a writer that bypasses the service."""
    from sqlalchemy.exc import IntegrityError

    group, subject = clinic["caseload"].id, clinic["subject"].id
    for statement in (
        f"INSERT INTO alert_rules VALUES ({group}, 'joy', 'below', 0.0, 1, NULL, '2024-01-01 00:00:00')",
        f"INSERT INTO alert_rules VALUES ({group}, 'valence', 'below', -1.5, 1, NULL, '2024-01-01 00:00:00')",
        f"INSERT INTO alert_rules VALUES ({group}, 'valence', 'below', 0.0, 0, NULL, '2024-01-01 00:00:00')",
        f"INSERT INTO timeline_notes VALUES (1, {subject}, NULL, '2024-01-01 00:00:00', '')",
    ):
        with pytest.raises(IntegrityError), service.engine.begin() as conn:
            conn.execute(text(statement))
