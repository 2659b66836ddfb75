"""Admin tasks that complete: re-enabling an account, renaming a group, the audit log's filters and its CSV export,
forms that keep what was typed when refused and say when a change went through, and an Admin page that reads
no pilot data (and so audits no read) until the admin asks for it.

Real SQLite files and, where a server answers, PostgreSQL (the `service` fixture); the page is driven with
Streamlit's AppTest on a real SQLite file.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from db.errors import InvalidInput, PermissionDenied
from vadcore.csv_safety import to_csv
from vadcore.settings import PROJECT_ROOT

from helpers import PASSWORDS, record_lawful_deployment

APP = str(PROJECT_ROOT / "main.py")
TIMEOUT = 900  # seconds per script run: the CPU may be shared


def actions(service, admin, action: str) -> list[str]:
    log = service.audit_log(admin, limit=1000)
    return list(log.loc[log["action"] == action, "detail"])


# ---------------------------------------------------------------- the service


def test_an_admin_re_enables_a_disabled_account(service, admin):
    teacher = service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    service.deactivate_user(admin, teacher.id)
    assert service.authenticate("teacher", PASSWORDS["teacher"]) is None
    with pytest.raises(PermissionDenied):
        service.reactivate_user(teacher, teacher.id)  # a disabled account cannot act, let alone on itself

    service.reactivate_user(admin, teacher.id)
    assert service.authenticate("teacher", PASSWORDS["teacher"]) is not None
    assert {u.username: u.is_active for u in service.list_users(admin)}["teacher"]
    log = service.audit_log(admin, action="reactivate_user")
    assert list(log["object_id"]) == [teacher.id] and list(log["username"]) == ["admin"]

    with pytest.raises(InvalidInput, match="is not disabled"):
        service.reactivate_user(admin, teacher.id)
    with pytest.raises(PermissionDenied):
        service.reactivate_user(teacher, admin.id)  # only an administrator


def test_an_admin_renames_a_group_and_a_taken_name_is_refused(service, admin):
    teacher = service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    klass = service.create_group(admin, "7a", "class")
    service.create_group(admin, "7b", "class")
    service.grant_access(admin, teacher.id, klass.id)

    renamed = service.rename_group(admin, klass.id, "  7a (2026)  ")
    assert renamed.id == klass.id and renamed.name == "7a (2026)"
    assert [g.name for g in service.list_groups(teacher)] == ["7a (2026)"]  # access follows the group
    assert actions(service, admin, "rename_group") == ["from='7a' to='7a (2026)'"]

    with pytest.raises(InvalidInput, match="group '7b' exists"):
        service.rename_group(admin, klass.id, "7b")
    with pytest.raises(InvalidInput, match="needs a name"):
        service.rename_group(admin, klass.id, "   ")
    with pytest.raises(PermissionDenied):
        service.rename_group(teacher, klass.id, "mine")
    service.rename_group(admin, klass.id, "7a (2026)")  # its own name again is no clash
    assert {g.name for g in service.list_groups(admin)} == {"7a (2026)", "7b"}


def test_the_audit_log_is_filtered_and_each_read_is_audited_with_its_filters(service, admin):
    teacher = service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    group = service.create_group(admin, "7a", "class")
    service.grant_access(admin, teacher.id, group.id)
    service.create_subject(teacher, group.id, "S-01", "granted")

    by_teacher = service.audit_log(admin, username="teacher")
    assert set(by_teacher["action"]) == {"create_subject"}
    assert set(service.audit_log(admin, action="create_group")["object_id"]) == {group.id}
    assert set(service.audit_log(admin, object_type="subject")["action"]) == {"create_subject"}
    assert service.audit_log(admin, username="teacher", action="create_group").empty

    today = datetime.now(UTC).date()
    assert len(service.audit_log(admin, since=today, until=today, action="create_user")) == 1  # both days included
    assert service.audit_log(admin, since=today + timedelta(days=1)).empty
    assert service.audit_log(admin, until=today - timedelta(days=1)).empty
    with pytest.raises(InvalidInput, match="before the first day"):
        service.audit_log(admin, since=today, until=today - timedelta(days=1))

    reads = service.audit_log(admin, action="view_audit_log", limit=100)["detail"]
    assert f"rows=0 since={today + timedelta(days=1)}" in set(reads)
    assert "rows=0 username='teacher' action='create_group'" in set(reads)
    with pytest.raises(PermissionDenied):
        service.audit_log(teacher)
    vocabulary = service.audit_vocabulary(admin)
    assert {"admin", "teacher"} <= set(vocabulary["username"]) and "create_group" in vocabulary["action"]


def test_the_audit_log_export_neutralises_formulas_in_names_and_details(service, admin):
    service.create_user(admin, "@evil", "evil-password-1", "teacher")
    formula = '=HYPERLINK("http://e.invalid")'  # a period name holds 32 characters
    service.create_period(admin, formula, date(2026, 1, 1), date(2026, 4, 1))
    evil = service.authenticate("@evil", "evil-password-1")
    assert evil is not None

    log = service.audit_log(admin)
    assert formula in set(log["detail"]) and "@evil" in set(log["username"])
    csv = to_csv(log, index=False)  # what the Admin page offers for download
    cells = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    assert "'" + formula in set(cells["detail"]) and formula not in set(cells["detail"])
    assert "'@evil" in set(cells["username"]) and "@evil" not in set(cells["username"])


# ---------------------------------------------------------------- the page


@pytest.fixture
def pilot(make_reading, app_service):
    """Admin, a teacher with a class of subjects, one reading of S-01 saved; DATABASE_URL points at it."""
    svc = app_service
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    record_lawful_deployment(svc, admin)
    teacher = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")
    klass = svc.create_group(admin, "Class 4B", "class")
    svc.create_group(admin, "Class 5A", "class")
    svc.grant_access(admin, teacher.id, klass.id)
    s01 = svc.create_subject(admin, klass.id, "S-01", "granted")
    svc.create_subject(admin, klass.id, "S-02", "granted")
    meeting = svc.create_session(admin, klass.id)
    svc.save_capture(admin, meeting.id, [make_reading()], [s01.id], hashlib.sha256(b"photo").hexdigest(), "upload")
    yield {"svc": svc, "admin": admin, "teacher": teacher, "class": klass}


def admin_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input(key="login_username").input("admin")
    at.text_input(key="login_password").input(PASSWORDS["admin"])
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert at.session_state["user"].username == "admin"
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    """The messages as the person reads them (the page escapes Markdown in what users typed)."""
    return "\n".join(str(e.value).replace("\\", "") for e in elements)


def audit_actions_after(svc, row_id: int) -> list[str]:
    """The actions audited after row `row_id`, read from the table itself (not through the audited read)."""
    with svc.engine.connect() as conn:
        return list(
            conn.execute(text("SELECT action FROM audit_log WHERE id > :id ORDER BY id"), {"id": row_id}).scalars()
        )


def last_audit_id(svc) -> int:
    with svc.engine.connect() as conn:
        return int(conn.execute(text("SELECT max(id) FROM audit_log")).scalar_one())


PILOT_READS = {"view_readings", "export_readings", "list_subjects", "list_sessions", "view_timeline_notes"}


def test_clicking_around_the_admin_page_reads_no_pilot_data_until_asked(pilot):
    svc, klass = pilot["svc"], pilot["class"]
    at = admin_page()
    mark = last_audit_id(svc)

    at.run()  # a plain rerun, as any click makes
    at.selectbox(key="policy_group").select(klass.id).run()
    at.button(key="purge_now").click().run()
    at.text_input(key="new_user_name").input("x")
    at.button(key="FormSubmitter:new_user-Create user").click().run()  # refused: nothing read
    at.button(key="FormSubmitter:audit_filters-Show audit log").click().run()
    at.button(key="FormSubmitter:rename_group-Rename group").click().run()  # refused: no name
    assert not at.exception, at.exception
    seen = audit_actions_after(svc, mark)
    assert not PILOT_READS & set(seen), seen
    assert "view_audit_log" in seen  # the read the admin asked for is there, once
    assert seen.count("view_audit_log") == 1

    # Picking a group to delete from reads its subjects and sessions: now, because the admin asked.
    mark = last_audit_id(svc)
    at.selectbox(key="retention_group").select(klass).run()
    assert at.selectbox(key="retention_subject").options == ["S-01", "S-02"]
    assert {"list_subjects", "list_sessions"} <= set(audit_actions_after(svc, mark))
    assert "view_readings" not in audit_actions_after(svc, mark)


def test_a_refused_new_user_form_keeps_what_was_typed_and_a_valid_one_says_so_and_clears(pilot):
    svc, admin = pilot["svc"], pilot["admin"]
    at = admin_page()
    at.text_input(key="new_user_name").input("teacher2")
    at.text_input(key="new_user_display").input("Tess Teacher")
    at.selectbox(key="new_user_role").select("psychologist")
    at.text_input(key="new_user_password").input("short")
    at.button(key="FormSubmitter:new_user-Create user").click().run()
    assert "password" in texts(at.error).lower()
    assert at.text_input(key="new_user_name").value == "teacher2"
    assert at.text_input(key="new_user_display").value == "Tess Teacher"
    assert at.selectbox(key="new_user_role").value == "psychologist"
    assert "teacher2" not in {u.username for u in svc.list_users(admin)}

    at.text_input(key="new_user_name").input("teacher")  # taken: refused, still kept
    at.text_input(key="new_user_password").input("long-enough-password-1")
    at.button(key="FormSubmitter:new_user-Create user").click().run()
    assert "username 'teacher' is taken" in texts(at.error)
    assert at.text_input(key="new_user_name").value == "teacher"

    at.text_input(key="new_user_name").input("teacher2")
    at.button(key="FormSubmitter:new_user-Create user").click().run()
    assert not at.exception, at.exception
    assert "Account teacher2 (psychologist) created." in texts(at.success)
    assert at.text_input(key="new_user_name").value == ""
    assert at.text_input(key="new_user_password").value == ""
    assert {u.username: u.role for u in svc.list_users(admin)}["teacher2"] == "psychologist"
    at.run()  # the message is shown once, after the change
    assert "created" not in texts(at.success)


def test_the_admin_page_re_enables_renames_adds_periods_and_filters_the_log(pilot):
    svc, admin, teacher, klass = pilot["svc"], pilot["admin"], pilot["teacher"], pilot["class"]
    svc.deactivate_user(admin, teacher.id)
    at = admin_page()

    at.selectbox(key="reactivate_user").select(teacher.id)
    at.button(key="FormSubmitter:reactivate_user-Re-enable account").click().run()
    assert "Account teacher enabled again." in texts(at.success)
    assert {u.username: u.is_active for u in svc.list_users(admin)}["teacher"]
    assert "reactivate_user" not in {s.key for s in at.selectbox}  # offered only while an account is disabled

    at.selectbox(key="rename_group").select(klass.id)
    at.text_input(key="rename_group_name").input("Class 5A")
    at.button(key="FormSubmitter:rename_group-Rename group").click().run()
    assert "group 'Class 5A' exists" in texts(at.error)
    assert at.text_input(key="rename_group_name").value == "Class 5A"  # kept to correct
    at.text_input(key="rename_group_name").input("Class 4B (2026)")
    at.button(key="FormSubmitter:rename_group-Rename group").click().run()
    assert "Group Class 4B is now called Class 4B (2026)." in texts(at.success)
    assert {g.id: g.name for g in svc.list_groups(admin)}[klass.id] == "Class 4B (2026)"
    assert "On the Retention tab" in texts(at.caption)  # where deleting a group is, and what it removes

    at.text_input(key="period_name").input("2026-T1")
    at.date_input(key="period_start").set_value(date(2026, 4, 1))
    at.date_input(key="period_end").set_value(date(2026, 1, 1))
    at.button(key="FormSubmitter:new_period-Add period").click().run()
    assert "must start before it ends" in texts(at.error)
    assert at.text_input(key="period_name").value == "2026-T1"
    assert at.date_input(key="period_start").value == date(2026, 4, 1)
    at.date_input(key="period_start").set_value(date(2026, 1, 1))
    at.date_input(key="period_end").set_value(date(2026, 4, 1))
    at.button(key="FormSubmitter:new_period-Add period").click().run()
    assert "Period 2026-T1 added" in texts(at.success)
    assert at.text_input(key="period_name").value == ""
    assert [p.name for p in svc.list_periods(admin)] == ["2026-T1"]

    at.selectbox(key="audit_action").select("rename_group")
    at.button(key="FormSubmitter:audit_filters-Show audit log").click().run()
    shown = at.dataframe[-1].value
    assert list(shown["action"]) == ["rename_group"] and list(shown["object_id"]) == [klass.id]
    assert any(b.key == "audit_download" for b in at.get("download_button"))
    assert "rows=1 action='rename_group'" in set(svc.audit_log(admin, action="view_audit_log")["detail"])


def test_a_form_sent_from_a_tab_comes_back_on_that_tab(pilot):
    svc, teacher = pilot["svc"], pilot["teacher"]
    at = admin_page()
    assert at.session_state["admin_tab"] == "Users"  # the tabs keep their state: the page opens on the first
    at.session_state["admin_tab"] = "Groups and access"  # as a click on the tab does
    at.run()
    at.selectbox(key="access_user").select(teacher.id)
    at.selectbox(key="access_group").select_index(1)
    at.button(key="FormSubmitter:access-Grant").click().run()
    assert not at.exception, at.exception
    assert "tom" not in texts(at.error).lower()
    assert "can now open" in texts(at.success)
    assert at.session_state["admin_tab"] == "Groups and access"  # not back on "Users"
    assert len(svc.access_overview(pilot["admin"])) >= 2
