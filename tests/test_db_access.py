"""Accounts and roles, enforced by the service layer itself."""

from __future__ import annotations

import hashlib

import pytest

from db.errors import AccountDisabled
from db.services import InvalidInput, PermissionDenied

CHECKSUM = hashlib.sha256(b"photo").hexdigest()


@pytest.fixture
def world(service, admin):
    """Two teachers with a class each and a psychologist with a caseload, one subject in each."""
    svc = service
    t1 = svc.create_user(admin, "teacher1", "teacher1-password", "teacher")
    t2 = svc.create_user(admin, "teacher2", "teacher2-password", "teacher")
    psy = svc.create_user(admin, "psy", "psychologist-pw", "psychologist")
    class_a = svc.create_group(admin, "7a", "class")
    class_b = svc.create_group(admin, "7b", "class")
    caseload = svc.create_group(admin, "Clinic caseload", "caseload")
    svc.grant_access(admin, t1.id, class_a.id)
    svc.grant_access(admin, t2.id, class_b.id)
    svc.grant_access(admin, psy.id, caseload.id)
    subjects = {
        g.name: svc.create_subject(admin, g.id, "S-01", consent="granted") for g in (class_a, class_b, caseload)
    }
    return dict(t1=t1, t2=t2, psy=psy, class_a=class_a, class_b=class_b, caseload=caseload, subjects=subjects)


def test_first_admin_only_once(service):
    assert service.needs_first_admin()
    service.create_first_admin("root", "first-admin-pw")
    assert not service.needs_first_admin()
    with pytest.raises(PermissionDenied):
        service.create_first_admin("intruder", "second-admin-pw")


def test_authenticate_checks_the_argon2_hash(service, admin):
    user = service.authenticate("admin", "admin-password-1")
    assert user is not None and user.role == "admin"
    assert service.authenticate("admin", "wrong-password") is None
    assert service.authenticate("nobody", "admin-password-1") is None
    with service.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar()
    assert stored.startswith("$argon2id$") and "admin-password-1" not in stored


def test_weaker_hashes_are_upgraded_to_the_default_parameters_at_login(service, admin):
    from argon2 import profiles

    from db import security

    security.use_parameters(profiles.get_default_parameters())
    try:
        assert service.authenticate("admin", "admin-password-1") is not None  # made with the test profile
        with service.engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT password_hash FROM users").scalar()
        assert stored.startswith("$argon2id$") and not security.needs_rehash(stored)
        assert service.authenticate("admin", "admin-password-1") is not None
    finally:
        security.use_parameters(profiles.CHEAPEST)


def test_short_passwords_are_refused(service, admin):
    with pytest.raises(InvalidInput):
        service.create_user(admin, "t", "short", "teacher")


def test_teacher_asking_for_another_teachers_subject_is_refused(service, admin, world):
    other = world["subjects"]["7b"]
    with pytest.raises(PermissionDenied):
        service.readings_frame(world["t1"], subject_id=other.id)
    with pytest.raises(PermissionDenied):
        service.list_subjects(world["t1"], world["class_b"].id)
    with pytest.raises(PermissionDenied):
        service.set_consent(world["t1"], other.id, "withdrawn")
    with pytest.raises(PermissionDenied):
        service.delete_subject(world["t1"], other.id)
    assert [s.code for s in service.list_subjects(world["t2"], world["class_b"].id)] == ["S-01"]
    assert [s.consent for s in service.list_subjects(admin, world["class_b"].id)] == ["granted"]


def test_each_role_lists_only_its_groups_and_subjects(service, admin, world):
    assert [g.name for g in service.list_groups(world["t1"])] == ["7a"]
    assert [g.name for g in service.list_groups(world["psy"])] == ["Clinic caseload"]
    assert len(service.list_groups(admin)) == 3
    assert {s.group_id for s in service.list_subjects(world["psy"])} == {world["caseload"].id}
    assert {s.group_id for s in service.list_subjects(world["t1"])} == {world["class_a"].id}


def test_any_staff_member_may_be_given_any_group_but_an_administrator_none(service, admin, world):
    service.grant_access(admin, world["t1"].id, world["caseload"].id)
    assert {g.name for g in service.list_groups(world["t1"])} == {"7a", "Clinic caseload"}
    with pytest.raises(InvalidInput, match="sees every group already"):
        service.grant_access(admin, admin.id, world["class_a"].id)


def test_admin_only_operations_are_refused_to_others(service, world):
    t1 = world["t1"]
    for call in (
        lambda: service.create_user(t1, "x1", "long-enough-pw", "admin"),
        lambda: service.create_group(t1, "mine", "class"),
        lambda: service.grant_access(t1, t1.id, world["class_b"].id),
        lambda: service.audit_log(t1),
        lambda: service.database_size(t1),
    ):
        with pytest.raises(PermissionDenied):
            call()


def test_readings_of_other_groups_are_invisible(service, admin, world, make_reading):
    for name, group in (("7a", world["class_a"]), ("7b", world["class_b"])):
        meeting = service.create_session(admin, group.id)
        service.save_capture(admin, meeting.id, [make_reading()], [world["subjects"][name].id], CHECKSUM, "upload")
    frame = service.readings_frame(world["t1"])
    assert set(frame["group_id"]) == {world["class_a"].id}
    assert len(service.readings_frame(admin)) == 2
    with pytest.raises(PermissionDenied):
        service.readings_frame(world["t1"], group_id=world["class_b"].id)


def test_a_disabled_account_is_refused_at_once(service, admin, world):
    service.deactivate_user(admin, world["t1"].id)
    with pytest.raises(AccountDisabled):
        service.list_groups(world["t1"])
    assert service.authenticate("teacher1", "teacher1-password") is None


def test_subject_access_and_refusals_are_audited(service, admin, world):
    service.readings_frame(world["t1"], subject_id=world["subjects"]["7a"].id)
    with pytest.raises(PermissionDenied):
        service.readings_frame(world["t1"], subject_id=world["subjects"]["7b"].id)
    log = service.audit_log(admin)
    mine = log[log["username"] == "teacher1"]
    assert {"view_readings", "denied"} <= set(mine["action"])


def test_changing_ones_own_password_needs_the_current_one(service, world):
    with pytest.raises(InvalidInput, match="current password"):
        service.change_password(world["t1"], "not-my-password", "new-password-123")
    assert service.authenticate("teacher1", "new-password-123") is None
    service.change_password(world["t1"], "teacher1-password", "new-password-123")
    assert service.authenticate("teacher1", "new-password-123") is not None
    assert service.authenticate("teacher1", "teacher1-password") is None


def test_only_an_admin_resets_a_password_and_not_their_own(service, admin, world):
    with pytest.raises(PermissionDenied):
        service.set_password(world["t1"], world["t2"].id, "taken-over-123")
    with pytest.raises(InvalidInput, match="My account"):
        service.set_password(admin, admin.id, "no-current-needed")
    service.set_password(admin, world["t1"].id, "reset-by-admin-1")
    assert service.authenticate("teacher1", "reset-by-admin-1") is not None


def test_database_size_is_reported(service, admin):
    assert service.database_size(admin) > 0


def test_a_refusal_names_neither_the_group_nor_whether_it_exists(service, world):
    t1, class_b = world["t1"], world["class_b"]
    with pytest.raises(PermissionDenied) as other:
        service.list_subjects(t1, class_b.id)
    with pytest.raises(PermissionDenied) as missing:
        service.list_subjects(t1, class_b.id + 1000)
    assert class_b.name not in str(other.value)
    assert str(other.value).replace(str(class_b.id), "N") == str(missing.value).replace(str(class_b.id + 1000), "N")


def test_names_too_long_for_their_column_are_refused_in_plain_words(service, admin):
    from datetime import date

    for call in (
        lambda: service.create_group(admin, "G" * 129, "class"),
        lambda: service.create_period(admin, "P" * 33, date(2026, 1, 1), date(2026, 2, 1)),
        lambda: service.create_user(admin, "longname", "long-name-password", "teacher", "D" * 129),
    ):
        with pytest.raises(InvalidInput, match="holds at most"):
            call()
    group = service.create_group(admin, "G" * 128, "class")
    with pytest.raises(InvalidInput, match="holds at most"):
        service.rename_group(admin, group.id, "H" * 129)
    assert service.create_period(admin, "P" * 32, date(2026, 1, 1), date(2026, 2, 1)).name == "P" * 32
