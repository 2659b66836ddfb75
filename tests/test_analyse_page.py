"""The Analyse page holds its ground, and the Subjects form asks before a name becomes a code (issue 14).

AppTest on a real SQLite file with the real model and the real sample photos (skipped, with the reason, where
they are absent); the service read and the pure rules on their own, the service on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from vadcore.settings import SHIPPED_CHECKPOINT

from helpers import PASSWORDS, app_log_in, record_lawful_deployment

TIMEOUT = 900  # seconds per script run: the CPU may be shared
NEW = 0  # the session picker's "+ Start a new session"

needs_model = pytest.mark.skipif(
    not SHIPPED_CHECKPOINT.exists(), reason=f"model checkpoint {SHIPPED_CHECKPOINT} is absent"
)


@pytest.fixture
def pilot(app_service):
    """An admin and a teacher with one class and two consenting subjects, in the app's database."""
    svc = app_service
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    record_lawful_deployment(svc, admin)
    teacher = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")
    klass = svc.create_group(admin, "Class 4B", "class")
    svc.grant_access(admin, teacher.id, klass.id)
    for code in ("S-01", "S-02"):
        svc.create_subject(admin, klass.id, code, "granted")
    yield {"svc": svc, "admin": admin, "teacher": teacher, "class": klass}


def login(username: str) -> AppTest:
    return app_log_in(username, TIMEOUT)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def open_analyse_with_a_new_session(at: AppTest) -> None:
    at.switch_page("pages/analyse.py").run()
    assert at.selectbox(key="analyse_group").value is not None
    at.text_input[0].input("issue 14")
    at.button(key="FormSubmitter:new_session-Start session").click().run()
    assert not at.exception, at.exception


def save_button(at: AppTest):
    return next((b for b in at.button if b.key == "save"), None)


def previews(at: AppTest) -> list:
    """The labelled photos shown (the faces' thumbnails have no caption)."""
    return [image for image in at.image if any(image.captions)]


def face_boxes(at: AppTest) -> dict[str, str]:
    """Each face's subject box on the page, key -> the subject chosen ("face_<checksum[:16]>_<face index>")."""
    return {box.key: box.value for box in at.selectbox if box.key and box.key.startswith("face_")}


# ---------------------------------------------------------------- duplicates in one batch


@needs_model
def test_a_photo_added_twice_and_under_another_name_shows_once_and_is_saved_once(pilot, photos):
    from vadcore.images import image_checksum

    at = login("teacher")
    open_analyse_with_a_new_session(at)
    biden, other = (photos / "biden.jpg").read_bytes(), (photos / "obama-240p.jpg").read_bytes()
    at.file_uploader(key="uploads_0").set_value(
        [
            ("biden.jpg", biden, "image/jpeg"),
            ("obama-240p.jpg", other, "image/jpeg"),
            ("biden.jpg", biden, "image/jpeg"),  # the same file twice
            ("*copy* of biden.jpg", biden, "image/jpeg"),  # the same bytes under a name with Markdown in it
        ]
    ).run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    # Each distinct photo once, the other photo of the batch too; their faces' subject boxes keyed by checksum.
    assert len(previews(at)) == 2
    photo_keys = [key.rsplit("_", 1)[0] for key in face_boxes(at)]
    assert list(dict.fromkeys(photo_keys)) == [f"face_{image_checksum(d)[:16]}" for d in (biden, other)]
    assert photo_keys.count(f"face_{image_checksum(biden)[:16]}") == 1  # biden's one face, not three
    assert len(at.session_state["analyses"]) == 2
    # The note names the other names, as typed: escaped, never read as Markdown.
    notes = texts(at.info)
    assert "This photo was added 3 times" in notes
    from ui.text import plain

    seen = (
        "This photo was added 3 times: biden.jpg is the same file (the same bytes) as biden.jpg, *copy* of biden.jpg."
    )
    assert plain(seen) in notes and r"\*copy\*" in notes

    # The consistency column is a plain-language note with a tooltip, not "Sign check: no: valence".
    table = at.dataframe[0].value
    assert "Note" in table.columns and "Consistent" not in table.columns
    for note in (*table["Note"], *at.dataframe[1].value["Note"]):
        assert note == "" or note.startswith("the V/A/D values disagree with the class (")
        assert note == "" or note.endswith("); treat this reading with care")
    assert "disagree" in at.dataframe[0].proto.columns  # the column's help text travels with the table
    assert not at.data_editor  # the readings are shown, not edited: faces are assigned in the grid

    # Faces with a quality warning are left out of saving by default (tested below).
    faces = sum(quality == "" for quality in (*table["Quality"], *at.dataframe[1].value["Quality"]))
    assert save_button(at).label == f"Save {faces} readings from 2 photos"
    save_button(at).click().run()
    assert not at.exception, at.exception
    assert "Saved to session" in texts(at.success)
    frame = pilot["svc"].readings_frame(pilot["admin"], group_id=pilot["class"].id)
    assert len(frame) == faces and frame["capture_id"].nunique() == 2  # biden's face once, not three times


# ---------------------------------------------------------------- faces with a quality warning (issue 9)


@needs_model
def test_faces_with_a_quality_warning_show_why_and_are_left_out_of_saving_unless_included(pilot, photos):
    at = login("teacher")
    open_analyse_with_a_new_session(at)
    at.file_uploader(key="uploads_0").set_value(
        [
            ("obama_and_biden.jpg", (photos / "obama_and_biden.jpg").read_bytes(), "image/jpeg"),
            ("obama_partial_face.jpg", (photos / "obama_partial_face.jpg").read_bytes(), "image/jpeg"),
        ]
    ).run()
    assert not at.exception, at.exception
    # Each face's verdict in plain words beside its reading: the small face behind the two men is turned away,
    # the other photo's face is cut off at its edge.
    group_photo, partial = (table.value for table in at.dataframe)
    assert list(group_photo["Quality"][:2]) == ["", ""]
    assert "face turned away from the camera" in group_photo["Quality"][2]
    assert "face cut off at the photo's edge" in partial["Quality"][0]
    notes = texts(at.caption)
    assert "Face 3 will be left out when saving: quality warning." in notes
    assert "Face 1 will be left out when saving: quality warning (all of them" in notes

    exclude = at.toggle(key="exclude_flagged")
    assert exclude.value is True  # the default
    assert save_button(at).label == "Save 2 readings from 1 photo"
    exclude.set_value(False).run()  # the user may include them
    assert save_button(at).label == "Save 4 readings from 2 photos"
    assert "will be left out" not in texts(at.caption)
    at.toggle(key="exclude_flagged").set_value(True).run()
    save_button(at).click().run()
    assert not at.exception, at.exception
    frame = pilot["svc"].readings_frame(pilot["admin"], group_id=pilot["class"].id)
    assert len(frame) == 2 and set(frame["quality_flags"]) == {""}


# ---------------------------------------------------------------- saving the same photo to a session again


@needs_model
def test_saving_a_saved_photo_to_the_same_session_asks_first(pilot, photos):
    from vadcore.images import image_checksum

    svc, admin = pilot["svc"], pilot["admin"]
    at = login("teacher")
    open_analyse_with_a_new_session(at)
    session_id = at.selectbox[1].value
    biden = (photos / "biden.jpg").read_bytes()
    checksum = image_checksum(biden)
    at.file_uploader(key="uploads_0").set_value(("biden.jpg", biden, "image/jpeg")).run()
    save_button(at).click().run()
    assert "Saved to session" in texts(at.success)
    assert len(svc.readings_frame(admin, group_id=pilot["class"].id)) == 1
    (saved_at,) = svc.captures_with_checksum(admin, session_id, [checksum])[checksum]

    # The same photo again, into the same session: flagged with the time it was saved, not offered for saving.
    at.file_uploader(key="uploads_1").set_value(("biden again.jpg", biden, "image/jpeg")).run()
    assert not at.exception, at.exception
    assert at.selectbox[1].value == session_id
    warning = texts(at.warning)
    assert f"already saved to this session at {saved_at:%H:%M}; save again?" in warning
    assert save_button(at) is None
    assert "Every photo shown is saved to this session already" in texts(at.info)
    assert len(svc.readings_frame(admin, group_id=pilot["class"].id)) == 1

    # Saved a second time only once confirmed.
    at.checkbox(key=f"again_1_{checksum[:16]}").check().run()
    assert save_button(at).label == "Save 1 reading from 1 photo"
    save_button(at).click().run()
    assert not at.exception, at.exception
    frame = svc.readings_frame(admin, group_id=pilot["class"].id)
    assert len(frame) == 2 and frame["capture_id"].nunique() == 2

    # The confirmation was for that save only: a third upload asks again.
    at.file_uploader(key="uploads_2").set_value(("biden.jpg", biden, "image/jpeg")).run()
    assert re.search(r"already saved to this session at \d\d:\d\d and \d\d:\d\d; save again\?", texts(at.warning))
    assert save_button(at) is None


def test_captures_with_checksum_finds_a_sessions_saved_photos_for_those_who_may_see_them(service, admin, make_reading):
    from db.errors import InvalidInput, PermissionDenied

    klass = service.create_group(admin, "Class 1A", "class")
    other = service.create_group(admin, "Class 1B", "class")
    teacher = service.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher")
    service.grant_access(admin, teacher.id, klass.id)
    meeting = service.create_session(admin, klass.id)
    elsewhere = service.create_session(admin, other.id)
    photo, unsaved = "ab" * 32, "cd" * 32
    first = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    for at in (first + timedelta(minutes=30), first):  # saved out of order: listed earliest first
        service.save_capture(admin, meeting.id, [make_reading()], None, photo, "upload", captured_at=at)
    service.save_capture(admin, elsewhere.id, [make_reading()], None, unsaved, "upload")

    found = service.captures_with_checksum(teacher, meeting.id, [photo.upper(), unsaved])
    assert found == {photo: [first, first + timedelta(minutes=30)]}  # the other session's photo is not this one's
    assert service.captures_with_checksum(teacher, meeting.id, []) == {}
    with pytest.raises(PermissionDenied):
        service.captures_with_checksum(teacher, elsewhere.id, [unsaved])  # a group the teacher may not see
    with pytest.raises(InvalidInput):
        service.captures_with_checksum(teacher, meeting.id, ["not a checksum"])
    audit = service.audit_log(admin)
    checks = audit[audit["action"] == "check_checksums"]
    assert len(checks) == 2 and set(checks["object_id"]) == {meeting.id}
    assert "2 checked, 1 saved before" in set(checks["detail"])


# ---------------------------------------------------------------- the session picker: today's, or a new one


def test_the_session_picker_preselects_todays_session_never_yesterdays(pilot):
    from ui import local_time

    svc, admin, klass = pilot["svc"], pilot["admin"], pilot["class"]
    yesterday = svc.create_session(admin, klass.id, datetime.now(UTC) - timedelta(days=1), "yesterday")
    at = login("teacher")
    at.switch_page("pages/analyse.py").run()
    assert not at.exception, at.exception
    picker = at.selectbox[1]
    # AppTest's browser names no zone: the server's (whose short name ends the time)
    started = local_time.local_text(yesterday.started_at, local_time.local_zone(None))
    assert picker.options[1:] == [f"#{yesterday.id} {started} — yesterday"]
    assert picker.value == NEW, "yesterday's session is not preselected"
    assert "No session of this group started today" in texts(at.caption)

    today = svc.create_session(admin, klass.id, context_note="today")
    at.run()
    assert at.selectbox[1].value == today.id


def test_todays_session_follows_the_local_date_and_times_read_in_the_local_zone():
    from db.views import SessionInfo
    from ui import local_time, photos

    berlin = ZoneInfo("Europe/Berlin")
    late = SessionInfo(1, 1, datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "")  # 00:30 on 2 March in Berlin
    early = SessionInfo(2, 1, datetime(2026, 3, 2, 7, 0, tzinfo=UTC), "")
    morning = datetime(2026, 3, 2, 9, 0, tzinfo=berlin)
    assert photos.todays_session([early, late], berlin, now=morning) == 2  # the latest of today's
    assert photos.todays_session([late], berlin, now=morning) == 1
    assert photos.todays_session([late], UTC, now=morning) is None  # 1 March in UTC: yesterday's
    assert photos.todays_session([], berlin, now=morning) is None
    assert local_time.local_zone("Europe/Berlin") == berlin
    assert local_time.local_zone("Mars/Olympus_Mons") == local_time.local_zone(None)  # unknown: the server's zone
    assert local_time.clock_time(datetime.now(UTC), berlin) == f"{datetime.now(berlin):%H:%M}"
    assert local_time.clock_time(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), berlin) == "2026-03-02 00:30"


def test_a_batch_is_told_apart_by_its_bytes_and_notes_name_every_copy(make_reading):
    from ui import photos

    batch = [("a.jpg", b"one", "upload"), ("b.jpg", b"two", "upload"), ("a.jpg", b"one", "upload")]
    batch.append(("camera photo", b"one", "camera"))
    first, second = photos.distinct(batch)
    assert (first.names, first.source, second.names) == (("a.jpg", "a.jpg", "camera photo"), "upload", ("b.jpg",))
    assert photos.duplicate_note(first).startswith("This photo was added 3 times: a.jpg is the same file")
    assert "as a.jpg, camera photo." in photos.duplicate_note(first)
    assert photos.duplicate_note(second) == ""
    kept, refused = photos.within_limits([first, second])
    assert kept == [first, second] and refused == []

    assert photos.consistency_note(make_reading()) == ""
    sad_but_pleasant = make_reading(label="happy", valence=-0.4, consistency_violations=("valence",))
    assert photos.consistency_note(sad_but_pleasant) == (
        "the V/A/D values disagree with the class (valence (V)); treat this reading with care"
    )


# ---------------------------------------------------------------- subjects: consent pending, codes not names


@pytest.mark.parametrize(
    "code", ["Anna Schmidt", "Anna", "Tom", "Jürgen Müller", "Anna-Lena O'Neill", "Ana de Souza", "  Anna  "]
)
def test_a_code_that_reads_like_a_name_is_recognised(code):
    from db.services import looks_like_a_name

    assert looks_like_a_name(code)


@pytest.mark.parametrize("code", ["S-014", "Al", "ABC", "anna", "4B-Anna", "S 01", "de Souza", "P7", "C-01 Anna"])
def test_a_pseudonymous_code_is_not_taken_for_a_name(code):
    from db.services import looks_like_a_name

    assert not looks_like_a_name(code)


def test_subjects_start_pending_and_a_name_like_code_needs_a_tick(pilot):
    svc, admin, klass = pilot["svc"], pilot["admin"], pilot["class"]

    def consent() -> dict[str, str]:
        return {s.code: s.consent for s in svc.list_subjects(admin, klass.id)}

    at = login("teacher")
    at.switch_page("pages/subjects.py").run()
    assert at.selectbox(key="new_subject_consent").value == "pending"
    at.text_input(key="new_subject_code").input("S-04")
    at.button(key="FormSubmitter:add_subject-Add subject").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert consent()["S-04"] == "pending"
    assert at.text_input(key="new_subject_code").value == "", "the form is empty again after an add"

    # A name: warned, not created, the typed code kept in the form.
    at.text_input(key="new_subject_code").input("Anna Schmidt")
    at.button(key="FormSubmitter:add_subject-Add subject").click().run()
    assert "looks like a person's name" in texts(at.warning)
    assert "Anna Schmidt" not in consent()
    assert at.text_input(key="new_subject_code").value == "Anna Schmidt"
    at.button(key="FormSubmitter:add_subject-Add subject").click().run()
    assert "Anna Schmidt" not in consent(), "a second click without the tick does not add it"

    # Ticked for that code, it is added (still pending).
    box = next(c for c in at.checkbox if c.key.startswith("subject_not_a_name_"))
    box.check()
    at.button(key="FormSubmitter:add_subject-Add subject").click().run()
    assert not at.exception, at.exception
    assert consent()["Anna Schmidt"] == "pending"
    assert not at.warning
