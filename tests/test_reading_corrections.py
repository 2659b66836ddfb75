"""A saved reading can be corrected: moved to another consenting subject of its group (or made anonymous), or
deleted, by the staff of the group; each correction is audited with the old value, and refusals change nothing."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from db.errors import InvalidInput, NotFound, PermissionDenied

PHOTO = b"\x89PNG fake photo bytes"
CHECKSUM = hashlib.sha256(PHOTO).hexdigest()


@pytest.fixture
def pilot(service, admin, make_reading):
    """A class (teacher granted) with S-01, S-02 (granted) and S-03 (pending), another class with its own
    consenting subject, and one saved photo: face 0 → S-01, face 1 anonymous."""
    group = service.create_group(admin, "7a", "class")
    teacher = service.create_user(admin, "teacher", "teacher-password-1", "teacher")
    outsider = service.create_user(admin, "outsider", "outsider-password-1", "teacher")
    service.grant_access(admin, teacher.id, group.id)
    s1, s2 = (service.create_subject(admin, group.id, code, consent="granted") for code in ("S-01", "S-02"))
    pending = service.create_subject(admin, group.id, "S-03")
    other = service.create_group(admin, "7b", "class")
    service.grant_access(admin, outsider.id, other.id)
    stranger = service.create_subject(admin, other.id, "T-01", consent="granted")
    meeting = service.create_session(admin, group.id)
    saved = service.save_capture(
        teacher,
        meeting.id,
        [make_reading("happy", valence=0.5), make_reading("sad", valence=-0.25, arousal=-0.125, dominance=-0.5)],
        [s1.id, None],
        CHECKSUM,
        "upload",
    )
    return {
        "group": group,
        "teacher": teacher,
        "outsider": outsider,
        "s1": s1,
        "s2": s2,
        "pending": pending,
        "stranger": stranger,
        "session": meeting,
        "readings": saved.reading_ids,
    }


def assignments(service, admin, group_id: int) -> dict[int, str | None]:
    frame = service.readings_frame(admin, group_id=group_id)
    return {int(r): (None if c is None or c != c else c) for r, c in zip(frame["reading_id"], frame["subject_code"])}


def stored_rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT id, subject_id, valence FROM face_readings ORDER BY id"))]


def test_a_reading_moves_to_a_consenting_subject_of_its_group_and_is_audited(service, admin, pilot):
    first, second = pilot["readings"]
    assert service.reassign_reading(pilot["teacher"], first, pilot["s2"].id) == 1
    assert assignments(service, admin, pilot["group"].id) == {first: "S-02", second: None}
    assert len(service.readings_frame(admin, subject_id=pilot["s1"].id)) == 0
    assert len(service.readings_frame(admin, subject_id=pilot["s2"].id)) == 1

    log = service.audit_log(admin, action="reassign_reading")
    assert len(log) == 1
    row = log.iloc[0]
    assert (row["username"], row["object_type"], row["object_id"]) == ("teacher", "reading", first)
    assert row["detail"] == f"from={pilot['s1'].id} to={pilot['s2'].id} readings=1"


def test_a_reading_can_be_made_anonymous_and_an_anonymous_one_assigned(service, admin, pilot):
    first, second = pilot["readings"]
    service.reassign_reading(pilot["teacher"], first, None)
    service.reassign_reading(admin, second, pilot["s1"].id)
    assert assignments(service, admin, pilot["group"].id) == {first: None, second: "S-01"}
    details = set(service.audit_log(admin, action="reassign_reading")["detail"])
    s1 = pilot["s1"].id
    assert details == {f"from={s1} to=anonymous readings=1", f"from=anonymous to={s1} readings=1"}


@pytest.mark.parametrize(
    ("who", "target", "error"),
    [
        ("teacher", "stranger", InvalidInput),  # a subject of another group
        ("teacher", "pending", InvalidInput),  # no consent on record
        ("teacher", "s1", InvalidInput),  # where it is already
        ("outsider", "s2", PermissionDenied),  # no access to the reading's group
        ("outsider", None, PermissionDenied),
    ],
)
def test_a_refused_reassignment_changes_nothing(service, admin, pilot, who, target, error):
    before = stored_rows(service.engine)
    subject_id = pilot[target].id if target else None
    with pytest.raises(error):
        service.reassign_reading(pilot[who], pilot["readings"][0], subject_id)
    assert stored_rows(service.engine) == before
    assert service.audit_log(admin, action="reassign_reading").empty


def test_a_reading_of_a_subject_without_consent_stays_untouched(service, admin, pilot):
    service.set_consent(admin, pilot["s1"].id, "withdrawn")
    before = stored_rows(service.engine)
    with pytest.raises(InvalidInput, match="consent"):
        service.reassign_reading(pilot["teacher"], pilot["readings"][0], pilot["s2"].id)
    with pytest.raises(InvalidInput, match="consent"):
        service.delete_reading(pilot["teacher"], pilot["readings"][0])
    assert stored_rows(service.engine) == before


def test_a_deleted_reading_is_gone_and_its_old_values_are_audited(service, admin, pilot):
    first, second = pilot["readings"]
    capture = int(service.readings_frame(admin, group_id=pilot["group"].id)["capture_id"].iloc[0])
    with pytest.raises(PermissionDenied):
        service.delete_reading(pilot["outsider"], second)
    service.delete_reading(pilot["teacher"], second)
    assert list(service.readings_frame(admin, group_id=pilot["group"].id)["reading_id"]) == [first]
    assert [r[0] for r in stored_rows(service.engine)] == [first]
    with pytest.raises(NotFound):
        service.delete_reading(pilot["teacher"], second)

    service.delete_reading(admin, first)
    log = service.audit_log(admin, action="delete_reading").set_index("object_id")
    assert set(log["username"]) == {"teacher", "admin"}
    assert log.loc[second, "detail"] == f"capture={capture} face=1 subject=anonymous model=test-1"
    assert f"subject={pilot['s1'].id} model=test-1" in log.loc[first, "detail"]
    # the audit log outlives a subject's erasure: it keeps where a reading was, never what it read
    assert not log["detail"].str.contains("valence|label|sad|happy").any()


def test_a_video_reading_moves_with_its_track(service, admin, pilot, make_reading):
    from vadcore.video import VideoFace

    faces = [VideoFace(i, i / 2, track, make_reading()) for i, track in enumerate([1, 2, 1, 2])]
    video = service.save_video_session(admin, pilot["group"].id, faces, {1: pilot["s1"].id}, CHECKSUM)
    first_of_track_2 = video.reading_ids[1]
    with pytest.raises(InvalidInput, match="another track"):
        service.reassign_reading(pilot["teacher"], first_of_track_2, pilot["s1"].id)
    assert service.reassign_reading(pilot["teacher"], first_of_track_2, pilot["s2"].id) == 2
    frame = service.readings_frame(admin, session_id=video.session_id)
    assert dict(zip(frame["track_id"], frame["subject_code"])) == {1: "S-01", 2: "S-02"}
    assert frame.groupby("track_id")["subject_code"].nunique().tolist() == [1, 1]


# ---------------------------------------------------------------- the Session explorer's "Correct" tab


def test_the_explorer_moves_a_reading_to_another_subject(make_reading, app_service):
    from streamlit.testing.v1 import AppTest

    from vadcore.settings import PROJECT_ROOT

    from helpers import record_lawful_deployment

    svc = app_service
    admin = svc.create_first_admin("admin", "admin-password-1")
    record_lawful_deployment(svc, admin)
    teacher = svc.create_user(admin, "teacher", "teacher-password-1", "teacher")
    group = svc.create_group(admin, "Class 4B", "class")
    svc.grant_access(admin, teacher.id, group.id)
    s1, s2 = (svc.create_subject(admin, group.id, code, consent="granted") for code in ("S-01", "*S-02*"))
    svc.create_subject(admin, group.id, "S-03")  # pending: not offered
    meeting = svc.create_session(admin, group.id)
    saved = svc.save_capture(
        teacher, meeting.id, [make_reading(), make_reading("sad")], [s1.id, None], CHECKSUM, "upload"
    )
    first = saved.reading_ids[0]

    at = AppTest.from_file(str(PROJECT_ROOT / "main.py"), default_timeout=300).run()
    at.text_input(key="login_username").input("teacher")
    at.text_input(key="login_password").input("teacher-password-1")
    at.button(key="FormSubmitter:login-Log in").click().run()
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception

    at.selectbox(key="fix_reading").select(first).run()
    picker = at.selectbox(key=f"fix_subject_{first}")
    assert picker.options == ["anonymous (no subject)", "*S-02*", "S-01"]  # as typed; S-03 has no consent
    assert picker.value == s1.id
    picker.select(s2.id).run()
    at.button(key="fix_save").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert "moved to \\*S\\-02\\*" in "\n".join(s.value for s in at.success)  # the code escaped, not Markdown

    frame = svc.readings_frame(admin, group_id=group.id).set_index("reading_id")
    assert frame.loc[first, "subject_code"] == "*S-02*"
    assert svc.audit_log(admin, action="reassign_reading")["detail"].tolist() == [f"from={s1.id} to={s2.id} readings=1"]

    # Deleting asks for a tick first.
    second = saved.reading_ids[1]
    at.selectbox(key="fix_reading").select(second).run()
    assert at.button(key="fix_delete").disabled
    at.checkbox(key=f"fix_confirm_{second}").check().run()
    at.button(key="fix_delete").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert f"Deleted reading #{second}." in "\n".join(s.value for s in at.success)
    assert svc.readings_frame(admin, group_id=group.id)["reading_id"].tolist() == [first]
    assert at.selectbox(key="fix_reading").options == [ui_label(svc, admin, group.id)]


def ui_label(svc, admin, group_id: int) -> str:
    from ui.corrections import reading_label

    return reading_label(svc.readings_frame(admin, group_id=group_id).iloc[0])
