"""Access that fits a school and a clinic: an administrator grants any staff member any group (recorded with who
and when, listed in the access overview), and a teacher or an administrator refers a consenting subject to a
psychologist, who then sees that subject, and nothing else of its group, until the referral is revoked, consent
is withdrawn or the subject is deleted.

Real SQLite files and, where a server answers, PostgreSQL (the `service` fixture); the pages are driven with
Streamlit's AppTest on a real SQLite file.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from sqlalchemy import event, text
from streamlit.testing.v1 import AppTest

from db.errors import InvalidInput, PermissionDenied
from vadcore.settings import PROJECT_ROOT

from helpers import PASSWORDS, record_lawful_deployment

APP = str(PROJECT_ROOT / "main.py")
TIMEOUT = 900  # seconds per script run: the CPU may be shared


@pytest.fixture
def school(service, admin, make_reading):
    """Class 7a (teacher t1: S-01, S-02 granted, S-03 pending) with one saved reading each of S-01 and S-02 and an
    anonymous one; class 7b (teacher t2: its own S-01); a psychologist with a caseload of their own."""
    return _school(service, admin, make_reading)


def _school(svc, admin, make_reading) -> dict:
    t1 = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")
    t2 = svc.create_user(admin, "teacher2", "teacher2-password", "teacher")
    psy = svc.create_user(admin, "psych", PASSWORDS["psych"], "psychologist", "Pia Psych")
    class_a = svc.create_group(admin, "7a", "class")
    class_b = svc.create_group(admin, "7b", "class")
    caseload = svc.create_group(admin, "Caseload", "caseload")
    svc.grant_access(admin, t1.id, class_a.id)
    svc.grant_access(admin, t2.id, class_b.id)
    svc.grant_access(admin, psy.id, caseload.id)
    s01, s02, s03 = (
        svc.create_subject(t1, class_a.id, c, k)
        for c, k in (("S-01", "granted"), ("S-02", "granted"), ("S-03", "pending"))
    )
    b01 = svc.create_subject(t2, class_b.id, "S-01", "granted")
    meeting = svc.create_session(t1, class_a.id)
    readings = [make_reading(valence=0.1), make_reading(valence=0.2), make_reading(valence=0.3)]
    svc.save_capture(t1, meeting.id, readings, [s01.id, s02.id, None], hashlib.sha256(b"7a").hexdigest(), "upload")
    other = svc.create_session(t2, class_b.id)
    svc.save_capture(t2, other.id, [make_reading()], [b01.id], hashlib.sha256(b"7b").hexdigest(), "upload")
    return dict(
        t1=t1, t2=t2, psy=psy, class_a=class_a, class_b=class_b, caseload=caseload, s01=s01, s02=s02, s03=s03, b01=b01
    )


def audit_rows(service, action: str) -> list[tuple[str, int | None, str]]:
    """(username, object_id, detail) of the rows of `action`, read from the table (not through an audited read)."""
    with service.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT username, object_id, detail FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}
        )
        return [tuple(r) for r in rows]


# ---------------------------------------------------------------- grants


def test_a_psychologist_granted_a_class_sees_it_and_the_grant_says_who_and_when(service, admin, school):
    psy, class_a = school["psy"], school["class_a"]
    service.grant_access(admin, psy.id, class_a.id)
    assert {g.name for g in service.list_groups(psy)} == {"7a", "Caseload"}
    assert len(service.readings_frame(psy, group_id=class_a.id)) == 3
    with pytest.raises(InvalidInput, match="already"):
        service.grant_access(admin, psy.id, class_a.id)

    overview = service.access_overview(admin)
    grant = next(e for e in overview if e.username == "psych" and e.group_name == "7a")
    assert (grant.via, grant.role, grant.granted_by) == ("grant", "psychologist", "admin")
    assert grant.since is not None and grant.subject_code is None
    assert {(e.username, e.group_name) for e in overview if e.via == "grant"} == {
        ("teacher", "7a"),
        ("teacher2", "7b"),
        ("psych", "Caseload"),
        ("psych", "7a"),
    }
    assert audit_rows(service, "view_access_overview")[-1][2] == "grants=4 referrals=0"
    with pytest.raises(PermissionDenied):
        service.access_overview(psy)


def test_grants_made_before_migration_0007_are_kept_without_a_granter(service, admin, school):
    from alembic import command

    from db import alembic_config, init_db

    cfg = alembic_config()
    with service.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    init_db(service.engine)
    overview = service.access_overview(admin)
    assert {(e.username, e.group_name, e.granted_by) for e in overview} == {
        ("teacher", "7a", ""),
        ("teacher2", "7b", ""),
        ("psych", "Caseload", ""),
    }


# ---------------------------------------------------------------- referrals


def test_a_referral_shows_exactly_that_subject_and_nothing_else_of_its_group(service, admin, school):
    psy, t1, s01, s02 = school["psy"], school["t1"], school["s01"], school["s02"]
    with pytest.raises(PermissionDenied):
        service.readings_frame(psy, subject_id=s01.id)

    (made,) = service.refer_subject(t1, s01.id, psy.id)
    assert (made.subject_code, made.group_name, made.psychologist, made.referred_by) == (
        "S-01",
        "7a",
        "Pia Psych",
        "Tom Teacher",
    )
    assert made.active and made.consent == "granted"

    frame = service.readings_frame(psy, subject_id=s01.id)
    assert list(frame["subject_id"]) == [s01.id] and list(frame["valence"]) == [pytest.approx(0.1)]
    everything = service.readings_frame(psy)  # all a psychologist may see: the caseload's (none) and S-01's
    assert list(everything["subject_id"]) == [s01.id]
    service.add_timeline_note(psy, s01.id, "First look")
    assert [n.text for n in service.timeline_notes(psy, s01.id)] == ["First look"]
    assert [r.subject_code for r in service.referred_to_me(psy)] == ["S-01"]

    # The rest of the group, the group itself and changes to the subject stay closed.
    for call in (
        lambda: service.readings_frame(psy, subject_id=s02.id),
        lambda: service.readings_frame(psy, group_id=school["class_a"].id),
        lambda: service.list_subjects(psy, school["class_a"].id),
        lambda: service.list_sessions(psy, school["class_a"].id),
        lambda: service.set_consent(psy, s01.id, "withdrawn"),
        lambda: service.delete_subject(psy, s01.id),
        lambda: service.timeline_notes(psy, s02.id),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert {g.name for g in service.list_groups(psy)} == {"Caseload"}

    entries = [e for e in service.access_overview(admin) if e.via == "referral"]
    assert [(e.username, e.group_name, e.subject_code, e.granted_by) for e in entries] == [
        ("psych", "7a", "S-01", "Tom Teacher")
    ]


def test_a_referral_is_refused_without_consent_and_to_anyone_but_a_psychologist(service, admin, school):
    psy, t1, t2 = school["psy"], school["t1"], school["t2"]
    with pytest.raises(InvalidInput, match="consent is pending; a referral needs consent granted"):
        service.refer_subject(t1, school["s03"].id, psy.id)
    with pytest.raises(InvalidInput, match="only psychologists take referrals"):
        service.refer_subject(t1, school["s01"].id, t2.id)
    with pytest.raises(PermissionDenied):
        service.refer_subject(t2, school["s01"].id, psy.id)  # not t2's class
    with pytest.raises(PermissionDenied):
        service.refer_subject(psy, school["s01"].id, psy.id)  # psychologists take referrals, they do not make them
    service.refer_subject(admin, school["s01"].id, psy.id)
    with pytest.raises(InvalidInput, match="referred to psych already"):
        service.refer_subject(t1, school["s01"].id, psy.id)
    assert [r.subject_code for r in service.referred_to_me(psy)] == ["S-01"]


def test_a_referral_opened_by_another_request_meanwhile_is_refused_plainly(service, admin, school):
    """Two requests at once both pass the service's check on PostgreSQL (test_db_concurrency shows the race);
    the open-referral index then refuses the later row. Here the other request's row is written into the
    transaction after the check, right before the flush: the person reads the plain refusal, nothing of the
    request stays, and the next request goes through."""
    psy, t1, s01 = school["psy"], school["t1"], school["s01"]

    def other_request(session, *_):
        session.connection().execute(
            text("INSERT INTO referrals (subject_id, psychologist_id, created_at) VALUES (:s, :p, :at)"),
            {"s": s01.id, "p": psy.id, "at": datetime(2026, 11, 29, 9, 0)},
        )

    event.listen(service._sessions, "before_flush", other_request, once=True)
    with pytest.raises(InvalidInput, match=r"^subject 'S-01' is referred to psych already$"):
        service.refer_subject(t1, s01.id, psy.id)
    assert audit_rows(service, "refer_subject") == []
    with service.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM referrals")).scalar() == 0
    (made,) = service.refer_subject(t1, s01.id, psy.id)
    service.revoke_referral(t1, made.id)
    service.refer_subject(t1, s01.id, psy.id)  # the index holds open referrals only: a revoked one is history
    assert [r.active for r in service.list_referrals(admin)] == [False, True]


def test_duplicate_open_referrals_from_before_migration_0009_are_revoked_but_kept(service, admin, school):
    from alembic import command

    from db import alembic_config, init_db

    psy, s01, s02 = school["psy"], school["s01"], school["s02"]
    cfg = alembic_config()
    with service.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008")
        for subject_id in (s01.id, s01.id, s01.id, s02.id):
            conn.execute(
                text("INSERT INTO referrals (subject_id, psychologist_id, created_at) VALUES (:s, :p, :at)"),
                {"s": subject_id, "p": psy.id, "at": datetime(2026, 11, 29, 9, 0)},
            )
    init_db(service.engine)
    assert [(r.subject_code, r.active) for r in service.list_referrals(admin)] == [
        ("S-01", True),
        ("S-01", False),
        ("S-01", False),
        ("S-02", True),
    ]


def test_a_revoked_referral_hides_the_subject_again_and_both_steps_are_audited(service, admin, school):
    psy, t1, t2, s01 = school["psy"], school["t1"], school["t2"], school["s01"]
    (made,) = service.refer_subject(t1, s01.id, psy.id)
    with pytest.raises(PermissionDenied):
        service.revoke_referral(t2, made.id)  # neither the referrer, nor the psychologist, nor an admin
    revoked = service.revoke_referral(psy, made.id)  # the psychologist may end it
    assert not revoked.active and revoked.revoked_by == "Pia Psych"
    with pytest.raises(PermissionDenied):
        service.readings_frame(psy, subject_id=s01.id)
    assert service.readings_frame(psy).empty and service.referred_to_me(psy) == []
    with pytest.raises(InvalidInput, match="revoked already"):
        service.revoke_referral(t1, made.id)

    (again,) = service.refer_subject(t1, s01.id, psy.id)
    service.revoke_referral(t1, again.id)  # the referrer may end it too
    history = service.list_referrals(t1, school["class_a"].id)
    assert [(r.id, r.active) for r in history] == [(made.id, False), (again.id, False)]

    assert audit_rows(service, "refer_subject") == [
        ("teacher", s01.id, f"referral={made.id} psychologist=psych"),
        ("teacher", s01.id, f"referral={again.id} psychologist=psych"),
    ]
    assert audit_rows(service, "revoke_referral") == [
        ("psych", s01.id, f"referral={made.id}"),
        ("teacher", s01.id, f"referral={again.id}"),
    ]
    assert "valence" not in " ".join(d for *_, d in audit_rows(service, "refer_subject"))


def test_withdrawn_consent_ends_the_referral_and_hides_the_readings(service, admin, school):
    psy, t1, s01 = school["psy"], school["t1"], school["s01"]
    (made,) = service.refer_subject(t1, s01.id, psy.id)
    service.set_consent(t1, s01.id, "withdrawn")
    with pytest.raises(PermissionDenied):
        service.readings_frame(psy, subject_id=s01.id)
    assert service.readings_frame(psy).empty
    assert audit_rows(service, "revoke_referral") == [("teacher", s01.id, f"referral={made.id} consent=withdrawn")]

    service.set_consent(t1, s01.id, "granted")  # consent again does not revive the referral: refer anew
    assert service.referred_to_me(psy) == []
    assert not [e for e in service.access_overview(admin) if e.via == "referral"]


def test_deleting_the_subject_deletes_its_referrals(service, admin, school):
    psy, t1, s01 = school["psy"], school["t1"], school["s01"]
    service.refer_subject(t1, s01.id, psy.id)
    service.delete_subject(t1, s01.id)
    assert service.referred_to_me(psy) == [] and service.list_referrals(admin) == []
    with service.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM referrals")).scalar() == 0


def test_the_same_code_in_the_referrers_other_groups_is_referred_only_when_asked(service, admin, school):
    psy, t1, s01, b01 = school["psy"], school["t1"], school["s01"], school["b01"]
    assert len(service.refer_subject(t1, s01.id, psy.id, same_code=True)) == 1  # 7b is not t1's: its S-01 stays out
    service.revoke_referral(admin, service.referred_to_me(psy)[0].id)

    made = service.refer_subject(admin, s01.id, psy.id, same_code=True)  # an admin sees both classes
    assert [(r.group_name, r.subject_code) for r in made] == [("7a", "S-01"), ("7b", "S-01")]
    frame = service.readings_frame(psy)
    assert set(frame["subject_id"]) == {s01.id, b01.id} and set(frame["group_id"]) == {
        school["class_a"].id,
        school["class_b"].id,
    }


# ---------------------------------------------------------------- the pages


@pytest.fixture
def pilot(app_service, make_reading):
    admin = app_service.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    record_lawful_deployment(app_service, admin)
    return {"svc": app_service, "admin": admin, **_school(app_service, admin, make_reading)}


def login(username: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(PASSWORDS[username])
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert at.session_state["user"].username == username
    return at


def table_with(at: AppTest, column: str):
    """The shown table that has `column` (AppTest does not expose a dataframe's key)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def texts(elements) -> str:
    """The messages as the person reads them (the pages escape Markdown in what users typed)."""
    return "\n".join(str(e.value).replace("\\", "") for e in elements)


@pytest.mark.slow  # about 20 s: two log-ins and several runs of the app
def test_the_admin_grants_a_psychologist_a_class_and_the_overview_lists_and_revokes_it(pilot):
    svc, psy, class_a = pilot["svc"], pilot["psy"], pilot["class_a"]
    at = login("admin")
    at.switch_page("pages/admin.py").run()
    at.selectbox(key="access_user").select(psy.id)
    at.selectbox(key="access_group").select(class_a.id)
    at.button(key="FormSubmitter:access-Grant").click().run()
    assert not at.exception, at.exception
    assert "psych can now open 7a." in texts(at.success)
    assert not audit_rows(svc, "view_access_overview")  # read only when asked

    at.button(key="access_overview_show").click().run()
    shown = table_with(at, "access via")
    row = shown[(shown["user"] == "psych") & (shown["group"] == "7a")]
    assert list(row["granted by"]) == ["Ada Admin"] and list(row["access via"]) == ["grant"]
    assert len(audit_rows(svc, "view_access_overview")) == 1

    svc.refer_subject(pilot["t1"], pilot["s02"].id, psy.id)
    at.button(key="access_overview_show").click().run()
    shown = table_with(at, "access via")
    assert "referral of S-02" in set(shown["access via"])
    pick = next(i for i in at.selectbox(key="access_revoke_pick").options if "referral of S-02" in i)
    at.selectbox(key="access_revoke_pick").set_value(at.selectbox(key="access_revoke_pick").options.index(pick))
    at.button(key="FormSubmitter:revoke_access_entry-Revoke this access").click().run()
    assert not at.exception, at.exception
    assert "Revoked: psych no longer sees S-02." in texts(at.success)
    assert svc.referred_to_me(psy) == []
    assert "referral of S-02" not in set(table_with(at, "access via")["access via"])


@pytest.mark.slow  # about 20 s: two log-ins and several runs of the app
def test_a_teacher_refers_on_the_subjects_page_and_the_psychologist_sees_the_timeline(pilot):
    svc, psy, s01, s03 = pilot["svc"], pilot["psy"], pilot["s01"], pilot["s03"]
    at = login("teacher")
    at.switch_page("pages/subjects.py").run()
    at.selectbox(key="refer_subject").select(s03.id)
    at.selectbox(key="refer_psychologist").select(psy.id)
    at.button(key="FormSubmitter:refer_subject-Refer").click().run()
    assert "consent is pending" in texts(at.error)
    at.selectbox(key="refer_subject").select(s01.id)
    at.button(key="FormSubmitter:refer_subject-Refer").click().run()
    assert not at.exception, at.exception
    assert "Referred S-01 (7a) to Pia Psych." in texts(at.success)
    table = table_with(at, "psychologist")
    assert list(table["subject"]) == ["S-01"] and list(table["status"]) == ["active"]

    ps = login("psych")
    ps.switch_page("pages/timelines.py").run()
    ps.radio(key="timeline_source").set_value("Referred to me").run()
    assert not ps.exception, ps.exception
    assert ps.selectbox(key="timeline_referred_subject").options == ["S-01 (7a; referred by Tom Teacher)"]
    assert "1 readings in 1 sessions" in [h.value for h in ps.subheader]
    assert "timeline_group" not in {s.key for s in ps.selectbox}  # no group of the referral is opened
    ps.button(key="timeline_end_referral").click().run()
    assert not ps.exception, ps.exception
    assert svc.referred_to_me(psy) == [] and "timeline_source" not in {r.key for r in ps.radio}


def reopened(username: str, address: dict) -> AppTest:
    """A reload (F5) or a bookmark of the Timelines page at `address`: a new browser session, logged in (the
    session cookie's part, tested in test_e2e_referral), whose first run reads the address."""
    at = login(username)
    at.query_params.update(address)
    at.switch_page("pages/timelines.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow  # about 30 s: four log-ins and several runs of the app
def test_the_timelines_address_keeps_the_chosen_subject_through_a_reload(pilot):
    svc, psy, s01, s02, class_a = pilot["svc"], pilot["psy"], pilot["s01"], pilot["s02"], pilot["class_a"]
    at = login("admin")
    at.switch_page("pages/timelines.py").run()
    at.selectbox(key="timeline_group").select(class_a)
    at.run()
    at.selectbox(key="timeline_subject").select(s02.id).run()
    assert at.query_params == {"group": str(class_a.id), "subject": str(s02.id)}  # ids only, never the code
    again = reopened("admin", at.query_params)
    assert again.selectbox(key="timeline_group").value == class_a
    assert again.selectbox(key="timeline_subject").value == s02.id
    assert "1 readings in 1 sessions" in [h.value for h in again.subheader]

    svc.refer_subject(pilot["t1"], s01.id, psy.id)
    ps = login("psych")
    ps.switch_page("pages/timelines.py").run()
    ps.radio(key="timeline_source").set_value("Referred to me").run()
    assert ps.query_params == {"subject": str(s01.id)}  # a referral opens no group
    again = reopened("psych", ps.query_params)
    assert again.radio(key="timeline_source").value == "Referred to me"
    assert again.selectbox(key="timeline_referred_subject").value == s01.id
    assert "1 readings in 1 sessions" in [h.value for h in again.subheader]
    assert "not open to you" not in texts(again.info)


@pytest.mark.slow  # about 20 s: two log-ins and several runs of the app
@pytest.mark.parametrize("address", ["group and subject", "subject alone"])
def test_a_timelines_address_of_a_subject_not_open_to_the_user_shows_a_note_and_no_readings(pilot, address):
    """The psychologist has her (empty) caseload, and no referral: 7a's S-01 is not hers to see."""
    svc, s01, class_a = pilot["svc"], pilot["s01"], pilot["class_a"]
    ids = {"group": str(class_a.id), "subject": str(s01.id)}
    ps = reopened("psych", ids if address == "group and subject" else {"subject": ids["subject"]})
    assert "The address names a group or subject that is not open to you" in texts(ps.info)
    assert ps.selectbox(key="timeline_group").value == pilot["caseload"]
    assert "This group has no subjects yet (Subjects page)." in texts(ps.info)
    assert not [h for h in ps.subheader if "readings in" in h.value]
    assert not [d for user, _, d in audit_rows(svc, "view_readings") if user == "psych"]
    assert ps.query_params == {}  # the address forgets what it may not show
