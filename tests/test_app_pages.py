"""The Streamlit app driven page by page with Streamlit's AppTest: a real SQLite file, the real
model file and real photos; nothing mocked.

Skips (with the reason) where ../shared/data/photos or models/vadlens_resnet18.pt is absent.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT

from helpers import PASSWORDS, PHOTOS, app_log_in, record_lawful_deployment

APP = str(PROJECT_ROOT / "main.py")
CHECKPOINT = SHIPPED_CHECKPOINT
TIMEOUT = 900  # seconds per script run: generous, the CPU may be shared with a training run


needs_model = pytest.mark.skipif(not CHECKPOINT.exists(), reason=f"model checkpoint {CHECKPOINT} is absent")


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def pilot(db_url):
    """A small pilot: admin, a teacher with a class, a psychologist with a caseload, subjects."""
    from db import init_db, make_engine
    from db.services import Service

    engine = make_engine(db_url)
    init_db(engine)
    svc = Service(engine)
    admin = svc.create_first_admin("admin", PASSWORDS["admin"], "Ada Admin")
    record_lawful_deployment(svc, admin)
    teacher = svc.create_user(admin, "teacher", PASSWORDS["teacher"], "teacher", "Tom Teacher")
    psych = svc.create_user(admin, "psych", PASSWORDS["psych"], "psychologist", "Pia Psych")
    klass = svc.create_group(admin, "Class 4B", "class")
    caseload = svc.create_group(admin, "Caseload A", "caseload")
    svc.grant_access(admin, teacher.id, klass.id)
    svc.grant_access(admin, psych.id, caseload.id)
    subjects = {
        code: svc.create_subject(admin, klass.id, code, consent)
        for code, consent in (("S-01", "granted"), ("S-02", "granted"), ("S-03", "pending"))
    }
    svc.create_subject(admin, caseload.id, "C-01", "granted")
    yield {
        "svc": svc,
        "admin": admin,
        "teacher": teacher,
        "psych": psych,
        "class": klass,
        "caseload": caseload,
        "subjects": subjects,
    }
    engine.dispose()


def start() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def login(username: str) -> AppTest:
    at = app_log_in(username, TIMEOUT)
    assert at.session_state["user"].username == username
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def values(array) -> np.ndarray:
    """A trace's data array: plotly writes numbers as base64 typed arrays ({dtype, bdata})."""
    if isinstance(array, dict) and "bdata" in array:
        import base64

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- log-in and roles


def test_first_start_asks_for_the_first_admin(db_url):
    at = start()
    assert at.title[0].value == "Welcome to VAD Lens"
    at.text_input(key="first_username").input("boss")
    at.text_input(key="first_password").input("boss-password-1")
    at.text_input(key="first_repeat").input("boss-password-2")
    at.button(key="FormSubmitter:first_admin-Create administrator").click().run()
    assert "differ" in texts(at.error)
    assert "user" not in at.session_state

    at.text_input(key="first_repeat").input("boss-password-1")
    at.button(key="FormSubmitter:first_admin-Create administrator").click().run()
    assert not at.exception
    assert at.session_state["user"].role == "admin"
    assert at.title[0].value == "Analyse photos"
    at.switch_page("pages/admin.py").run()
    assert at.title[0].value == "Admin" and not at.exception

    # Once an administrator exists, a fresh visitor gets the log-in page instead.
    assert start().title[0].value == "VAD Lens"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads open files from /proc (Linux)")
def test_a_new_database_url_closes_the_previous_database(tmp_path, monkeypatch):
    """The server keeps one engine: the app opened on another database leaves no file of the first open."""
    for name in ("first.db", "second.db"):
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / name}")
        assert start().title[0].value == "Welcome to VAD Lens"
    fds = Path("/proc/self/fd")
    open_files = {str(fd.resolve()) for fd in fds.iterdir() if fd.is_symlink()}
    assert any(f.startswith(str(tmp_path / "second.db")) for f in open_files)
    assert not any(f.startswith(str(tmp_path / "first.db")) for f in open_files)


def test_login_refuses_a_wrong_password_and_logs_out(pilot):
    at = start()
    at.text_input(key="login_username").input("teacher")
    at.text_input(key="login_password").input("not-the-password")
    at.button(key="FormSubmitter:login-Log in").click().run()
    assert "Wrong username or password" in texts(at.error)
    assert "user" not in at.session_state

    at = login("teacher")
    assert "Tom Teacher" in texts(at.sidebar.caption)
    at.sidebar.button(key="logout").click().run()
    assert "user" not in at.session_state
    assert at.title[0].value == "VAD Lens"


def test_navigation_shows_only_what_the_role_may_open(pilot):
    teacher = login("teacher")
    for page in (
        "pages/analyse.py",
        "pages/video.py",
        "pages/explorer.py",
        "pages/subjects.py",
        "pages/outcomes.py",
        "pages/account.py",
    ):
        teacher.switch_page(page).run()
        assert not teacher.exception and not teacher.error, page
    for page in ("pages/admin.py", "pages/timelines.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            teacher.switch_page(page)
    # The teacher's group picker lists their class only, not the psychologist's caseload.
    teacher.switch_page("pages/analyse.py").run()
    assert teacher.selectbox(key="analyse_group").options == ["Class 4B (class)"]

    psych = login("psych")
    psych.switch_page("pages/timelines.py").run()
    assert psych.title[0].value == "Timelines" and not psych.exception
    assert psych.selectbox(key="timeline_group").options == ["Caseload A (caseload)"]
    with pytest.raises(ValueError):
        psych.switch_page("pages/admin.py")


def test_a_disabled_account_is_logged_out_at_its_next_step(pilot):
    at = login("teacher")
    pilot["svc"].deactivate_user(pilot["admin"], pilot["teacher"].id)
    at.switch_page("pages/subjects.py").run()
    assert "disabled" in texts(at.error)
    assert "user" not in at.session_state


# ---------------------------------------------------------------- analyse → save → explore → timeline


def _open_new_session(at: AppTest, note: str) -> None:
    at.switch_page("pages/analyse.py").run()
    picker = at.selectbox(key="analyse_group")
    picker.select_index(picker.options.index("Class 4B (class)")).run()
    at.text_input[0].input(note)
    at.button(key="FormSubmitter:new_session-Start session").click().run()
    assert not at.exception, at.exception


@needs_model
def test_analyse_save_explore_and_timeline(pilot, photos):
    from ui import local_time
    from vadcore.images import image_checksum

    at = login("admin")
    _open_new_session(at, "maths, 2nd period")
    photo = (photos / "obama_and_biden.jpg").read_bytes()
    at.file_uploader(key="uploads_0").set_value(("obama_and_biden.jpg", photo, "image/jpeg")).run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    table = at.dataframe[0].value
    n = len(table)
    assert n >= 2 and list(table["Face"]) == list(range(1, n + 1))
    # The labelled photo, and beside it each face's thumbnail with its subject box, numbered as on the photo.
    assert [bool(any(image.captions)) for image in at.image] == [True] + [False] * n
    key = f"face_{image_checksum(photo)[:16]}"
    boxes = [at.selectbox(key=f"{key}_{face}") for face in range(n)]
    assert [box.label for box in boxes] == [f"Face {face}" for face in range(1, n + 1)]
    assert {box.value for box in boxes} == {"anonymous"}
    assert set(table["Class"]) <= {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert table[["V", "A", "D"]].abs().le(1).all().all()
    # Only subjects with consent are offered; S-03 (pending) is not.
    assert "1 subject(s) of Class 4B have no consent" in texts(at.caption)
    assert boxes[0].options == ["anon.", "S-01", "S-02"]  # as shown: "anonymous" would be cut off in the grid

    # Faces with a quality warning (the turned face behind the two men) are left out of saving by default.
    n = int((table["Quality"] == "").sum())
    # Face 1 goes to S-01 (its box under its thumbnail), and the photo is saved.
    boxes[0].select("S-01").run()
    assert at.button(key="save").label == f"Save {n} readings from 1 photo"
    at.button(key="save").click().run()
    assert not at.exception, at.exception
    assert "Saved to session" in texts(at.success)

    svc, admin = pilot["svc"], pilot["admin"]
    frame = svc.readings_frame(admin, group_id=pilot["class"].id)
    assert len(frame) == n
    assert frame.loc[frame["face_index"] == 0, "subject_code"].item() == "S-01"
    assert frame["subject_id"].notna().sum() == 1
    assert svc.capture_image(admin, int(frame["capture_id"].iloc[0])) is None  # class policy: no photos kept

    # The same photo again is not saved twice by accident.
    at.file_uploader(key="uploads_1").set_value(("obama_and_biden.jpg", photo, "image/jpeg")).run()
    assert "already saved" in texts(at.markdown)
    assert all(b.key != "save" for b in at.button)

    # Explorer: the readings in the 3D view, anchors and axes on the VAD scale.
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception
    assert at.metric[0].value == str(n)
    spec3d, spec2d, mix = plotly_specs(at)
    points = [t for t in spec3d["data"] if t["type"] == "scatter3d" and t.get("mode") == "markers"]
    assert sum(len(values(t["x"])) for t in points) == n
    anchors = [t for t in spec3d["data"] if t["name"] == "class prototypes (R&M 1977 PAD)"]
    assert len(anchors) == 1 and len(values(anchors[0]["x"])) == 7
    for axis in ("xaxis", "yaxis", "zaxis"):
        assert spec3d["layout"]["scene"][axis]["range"] == [-1.05, 1.05]
        assert "(−1 … +1)" in spec3d["layout"]["scene"][axis]["title"]["text"]
    assert any("S-01" in h for t in points for h in t["hovertext"])
    assert "Share of faces (%)" in mix["layout"]["yaxis"]["title"]["text"]

    # Filter by subject: only S-01's reading is left.
    at.selectbox(key="explore_subject").select(pilot["subjects"]["S-01"].id).run()
    assert at.metric[0].value == "1"

    # Timeline of S-01 with a rule that fires on this one session.
    at.switch_page("pages/timelines.py").run()
    at.selectbox(key="timeline_group").select_index(
        at.selectbox(key="timeline_group").options.index("Class 4B (class)")
    ).run()
    at.selectbox(key="timeline_subject").select(pilot["subjects"]["S-01"].id).run()
    value = frame.loc[frame["face_index"] == 0, "valence"].item()
    at.number_input(key="rule_threshold").set_value(min(1.0, round(value + 0.05, 2) + 0.05)).run()
    at.number_input(key="rule_n").set_value(1).run()
    assert not at.exception, at.exception
    assert "The rule fires in 1 session" in texts(at.error)
    timeline = plotly_specs(at)[0]
    assert any(t["name"] == "rule fires" for t in timeline["data"])
    assert "maths, 2nd period" in json.dumps(timeline["data"])  # the session note is in the hover
    server_zone = local_time.zone_name(local_time.local_zone(None))  # AppTest's browser names no zone
    assert timeline["layout"]["xaxis3"]["title"]["text"] == f"Session date ({server_zone})"


@needs_model
def test_bad_photos_get_clear_messages_and_nothing_is_saved(pilot):
    at = login("teacher")
    _open_new_session(at, "bad inputs")
    blank = png(Image.new("RGB", (400, 300), (200, 180, 160)))
    huge = png(Image.new("L", (10000, 6600), 128))  # 66 megapixels
    good = jpeg(Image.open(PHOTOS / "obama_and_biden.jpg")) if (PHOTOS / "obama_and_biden.jpg").exists() else None
    files = [
        ("wall.png", blank, "image/png"),
        ("notes.txt", b"minutes of the meeting", "text/plain"),
        ("broken.jpg", jpeg(Image.new("RGB", (640, 480), (10, 200, 30)))[:700], "image/jpeg"),
        ("panorama.png", huge, "image/png"),
    ]
    at.file_uploader(key="uploads_0").set_value(files).run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    # file names are escaped (ui.plain) inside the bold: shown as typed, never as Markdown
    assert r"**notes\.txt** was not analysed" in errors
    assert r"**broken\.jpg** was not analysed" in errors
    assert r"**panorama\.png** was not analysed" in errors and "megapixel" in errors.lower()
    assert r"**wall\.png**: no face was found" in texts(at.warning)
    assert all(b.key != "save" for b in at.button), "nothing to save"
    assert pilot["svc"].readings_frame(pilot["teacher"]).empty

    if good is None:
        return
    # One subject on two faces: refused as a whole, nothing of the photo is written.
    from vadcore.images import image_checksum

    at.file_uploader(key="uploads_0").set_value(("group.jpg", good, "image/jpeg")).run()
    key = f"face_{image_checksum(good)[:16]}"
    at.selectbox(key=f"{key}_0").select("S-02")
    at.selectbox(key=f"{key}_1").select("S-02").run()
    at.button(key="save").click().run()
    assert "one subject is assigned to two faces" in texts(at.error)
    assert pilot["svc"].readings_frame(pilot["teacher"]).empty


@needs_model
def test_camera_photo_is_analysed_and_saved_as_a_camera_capture(pilot, photos):
    at = login("teacher")
    _open_new_session(at, "camera")
    at.toggle(key="use_camera").set_value(True).run()
    at.camera_input(key="camera_0").set_value(("shot.jpg", (photos / "biden.jpg").read_bytes(), "image/jpeg")).run()
    assert not at.exception, at.exception
    assert at.button(key="save").label.startswith("Save 1 reading")
    at.button(key="save").click().run()
    assert "Saved to session" in texts(at.success)
    assert len(pilot["svc"].readings_frame(pilot["teacher"])) == 1


# ---------------------------------------------------------------- a video → tracks → session → timeline


@needs_model
def test_a_video_is_tracked_assigned_saved_and_drawn_in_the_timeline(pilot, videos):
    from vadcore.images import image_checksum

    at = login("teacher")
    at.switch_page("pages/video.py").run()
    assert at.title[0].value == "Analyse a video" and not at.exception
    assert at.selectbox(key="video_group").options == ["Class 4B (class)"]
    at.text_input(key="video_note_0").input("reading circle")
    clip = (videos / "WolfgangLanger_Pexels.mp4").read_bytes()
    at.file_uploader(key="video_upload_0").set_value(("WolfgangLanger_Pexels.mp4", clip, "video/mp4")).run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert at.get("progress"), "the progress bar the analysis fed"
    assert "40 faces read in 40 sampled frames" in texts(at.markdown)
    assert "single crop of each face and its mirror image" in texts(at.caption)
    assert "not smoothed" in texts(at.caption)

    # One woman, one track: her thumbnail, her times, and V/A/D over the video on the VAD scale.
    assert len(at.image) == 1
    assert "40 faces read" in texts(at.text)
    (curve,) = plotly_specs(at)
    assert [len(values(t["x"])) for t in curve["data"]] == [40, 40, 40]
    assert curve["layout"]["xaxis3"]["title"]["text"] == "Video time (s)"
    for axis, title in (("yaxis", "Valence"), ("yaxis2", "Arousal"), ("yaxis3", "Dominance, experimental")):
        assert curve["layout"][axis]["title"]["text"] == f"{title} (−1 … +1)"
        assert curve["layout"][axis]["range"] == [-1.05, 1.05]

    # Only subjects with consent are offered (S-03 is pending); the track goes to S-01.
    picker = at.selectbox(key=f"video_subject_{pilot['class'].id}_{image_checksum(clip)[:16]}_1")
    assert picker.options == ["anonymous", "S-01", "S-02"]
    picker.select("S-01").run()
    # Readings with a quality warning (her face touches the frame's edge in some frames) are left out by default,
    # said under her curve; switched off, all 40 are saved.
    (result, _), *_ = at.session_state["video_analyses"].values()
    flagged = sum(f.reading.is_flagged for f in result.faces)
    assert at.button(key="video_save").label == f"Save {40 - flagged} readings as a new session"
    if flagged:
        assert f"{flagged} of 40 readings have a quality warning" in texts(at.text)
    at.toggle(key="video_exclude_flagged").set_value(False).run()
    at.button(key="video_save").click().run()
    assert not at.exception, at.exception
    saved = texts(at.success)
    assert "Saved 40 readings of 1 track(s), 1 assigned, as session #" in saved

    svc, admin = pilot["svc"], pilot["admin"]
    frame = svc.readings_frame(admin, group_id=pilot["class"].id)
    assert len(frame) == 40 and frame["session_id"].nunique() == 1
    session_id = int(frame["session_id"].iloc[0])
    assert f"session #{session_id}" in saved
    assert frame["frame_time_s"].notna().all() and frame["frame_time_s"].is_monotonic_increasing
    assert frame["frame_time_s"].iloc[0] == 0.0 and 19.0 < frame["frame_time_s"].iloc[-1] < 19.7
    assert frame["track_id"].nunique() == 1 and set(frame["subject_code"]) == {"S-01"}
    assert {s.id: s.context_note for s in svc.list_sessions(admin)}[session_id] == "reading circle"
    assert svc.capture_image(admin, int(frame["capture_id"].iloc[0])) is None  # the class keeps no photos
    assert at.file_uploader(key="video_upload_1").value is None  # emptied for the next video
    assert at.text_input(key="video_note_1").value == ""

    # Timelines: S-01's session among the others, and her V/A/D along the video.
    at = login("admin")
    at.switch_page("pages/timelines.py").run()
    at.selectbox(key="timeline_group").select_index(
        at.selectbox(key="timeline_group").options.index("Class 4B (class)")
    ).run()
    at.selectbox(key="timeline_subject").select(pilot["subjects"]["S-01"].id).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="timeline_video_session").options == [ui_session_label(svc, admin, session_id)]
    within = plotly_specs(at)[-1]
    assert within["layout"]["xaxis3"]["title"]["text"] == "Video time (s)"
    assert [len(values(t["x"])) for t in within["data"]] == [40, 40, 40]
    assert np.allclose(values(within["data"][0]["y"]), frame["valence"])


def ui_session_label(svc, admin, session_id: int) -> str:
    import ui

    return ui.session_label({s.id: s for s in svc.list_sessions(admin)}[session_id])


def test_a_videos_contact_sheet_numbers_each_tracks_thumbnail():
    from ui.video import SHEET_COLUMNS, contact_sheet_png
    from vadcore.video import TrackSummary

    tracks = [
        TrackSummary(k, 0.0, 1.0, 3, np.full((96, 96, 3), 20 * k, dtype=np.uint8)) for k in range(1, SHEET_COLUMNS + 3)
    ]
    sheet = Image.open(io.BytesIO(contact_sheet_png(tracks)))
    assert sheet.format == "PNG" and sheet.size == (SHEET_COLUMNS * 96, 2 * (96 + 14))
    assert sheet.getpixel((10, 10)) == (20, 20, 20) and sheet.getpixel((96 + 10, 96 + 14 + 10)) == (200, 200, 200)
    assert contact_sheet_png([]) is None


@needs_model
def test_a_video_without_faces_or_not_a_video_gets_a_plain_message_and_no_save(pilot, videos):
    at = login("teacher")
    at.switch_page("pages/video.py").run()
    at.file_uploader(key="video_upload_0").set_value(("minutes.mp4", b"minutes of the meeting\n" * 40, "video/mp4"))
    at.run()
    assert not at.exception, at.exception
    assert "This video could not be analysed: not a readable video" in texts(at.error)
    assert all(b.key != "video_save" for b in at.button)

    empty = (videos / "no_face.mp4").read_bytes()
    at.file_uploader(key="video_upload_0").set_value(("no_face.mp4", empty, "video/mp4")).run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert "No face was found in this video" in texts(at.info)
    assert all(b.key != "video_save" for b in at.button)
    assert pilot["svc"].readings_frame(pilot["admin"]).empty


# ---------------------------------------------------------------- timelines: the group's rule and notes


@pytest.fixture
def caseload_timeline(pilot, make_reading):
    """C-01 of the caseload read in three sessions, a week apart, each below the default threshold."""
    import hashlib
    from datetime import UTC, datetime, timedelta

    svc, admin = pilot["svc"], pilot["admin"]
    subject = svc.list_subjects(admin, pilot["caseload"].id)[0]
    for week, valence in enumerate((-0.5, -0.4, -0.6)):
        meeting = svc.create_session(
            admin, pilot["caseload"].id, datetime(2024, 3, 4, 10, tzinfo=UTC) + timedelta(weeks=week), f"week {week}"
        )
        checksum = hashlib.sha256(f"photo {week}".encode()).hexdigest()
        svc.save_capture(admin, meeting.id, [make_reading("sad", valence=valence)], [subject.id], checksum, "upload")
    return subject


def test_timelines_rule_is_stored_for_the_group_and_loaded_for_the_next_person(pilot, caseload_timeline):
    svc, caseload = pilot["svc"], pilot["caseload"]
    at = login("psych")
    at.switch_page("pages/timelines.py").run()
    assert not at.exception, at.exception
    assert "has no stored rule yet" in texts(at.text)
    assert "The rule fires in 1 session(s): valence below -0.20 for 3+ sessions in a row" in texts(at.error)
    assert at.button(key="save_rule").disabled  # nothing edited yet

    at.number_input(key="rule_n").set_value(2).run()
    assert "The rule fires in 2 session(s)" in texts(at.error)  # the edit applies at once…
    assert svc.alert_rule(pilot["admin"], caseload.id).is_default  # …but is not stored until saved
    at.button(key="save_rule").click().run()
    assert not at.exception and "not saved" not in texts(at.error), texts(at.error)
    assert "Saved as the group's rule: valence below -0.20 for 2+ sessions in a row" in texts(at.success)
    assert "set by Pia Psych" in texts(at.text)
    stored = svc.alert_rule(pilot["admin"], caseload.id)
    assert stored.rule.run_length == 2 and stored.set_by == "Pia Psych"

    other = login("admin")  # another person, another browser: the editor starts from the stored rule
    other.switch_page("pages/timelines.py").run()
    other.selectbox(key="timeline_group").select(caseload).run()
    assert other.number_input(key="rule_n").value == 2
    assert "set by Pia Psych" in texts(other.text)
    assert "The rule fires in 2 session(s)" in texts(other.error)
    other.selectbox(key="timeline_group").select(pilot["class"]).run()  # another group: its own (default) rule
    assert other.number_input(key="rule_n").value == 3 and "no stored rule yet" in texts(other.text)


def test_timeline_notes_are_added_listed_with_author_and_shown_as_plain_text(pilot, caseload_timeline):
    at = login("psych")
    at.switch_page("pages/timelines.py").run()
    assert "No notes yet." in texts(at.caption)
    typed = "Calmer since March. **not bold** <script>alert(1)</script>"
    at.text_area(key="timeline_note_text").input(f"  {typed}\n")
    at.button(key="FormSubmitter:timeline_note-Add note").click().run()
    assert not at.exception and "not saved" not in texts(at.error), texts(at.error)
    shown = texts(at.text)
    assert typed in shown and ", Pia Psych" in shown
    assert "not bold" not in texts(at.markdown) + texts(at.caption)  # never rendered as markdown
    notes = pilot["svc"].timeline_notes(pilot["admin"], caseload_timeline.id)
    assert [(n.author, n.text) for n in notes] == [("Pia Psych", typed)]

    at.text_area(key="timeline_note_text").input("   ")
    at.button(key="FormSubmitter:timeline_note-Add note").click().run()
    assert "The note was not saved: the note is empty" in texts(at.error)

    admin = login("admin")  # visible to others with access to the group
    admin.switch_page("pages/timelines.py").run()
    admin.selectbox(key="timeline_group").select(pilot["caseload"]).run()
    assert typed in texts(admin.text)


def test_timelines_list_the_subjects_whose_rule_fires_now_firing_first(pilot, caseload_timeline, make_reading):
    import hashlib

    import pandas as pd

    svc, admin, caseload = pilot["svc"], pilot["admin"], pilot["caseload"]
    calm = svc.create_subject(admin, caseload.id, "A-02", "granted")  # before C-01 by code, yet listed after it
    withdrawn = svc.create_subject(admin, caseload.id, "B-03", "granted")
    for meeting in svc.list_sessions(admin, caseload.id):  # the three weeks of C-01's sessions
        checksum = hashlib.sha256(f"second photo {meeting.id}".encode()).hexdigest()
        faces = [make_reading("happy", valence=0.4), make_reading("sad", valence=-0.8)]
        svc.save_capture(admin, meeting.id, faces, [calm.id, withdrawn.id], checksum, "upload")
    svc.set_consent(admin, withdrawn.id, "withdrawn")  # hides B-03's readings: not listed

    at = login("psych")
    at.switch_page("pages/timelines.py").run()
    assert not at.exception, at.exception
    assert at.expander[0].label == "Subjects whose alert rule fires now"
    assert "The group's default rule: valence below -0.20 for 3+ sessions in a row." in texts(at.caption)
    assert "The rule fires now for 1 of 2 subjects." in texts(at.text)
    listed = at.dataframe[0].value
    assert list(listed["subject_code"]) == ["C-01", "A-02"]
    assert list(listed["fires_now"]) == [True, False]
    assert listed.loc[0, "since"] == pd.Timestamp("2024-03-04 10:00", tz="UTC")  # C-01's first session
    assert list(listed["sessions"]) == [3, 3] and list(listed["sessions_fired"]) == [1, 0]
    assert listed.loc[1, "latest_mean"] == pytest.approx(0.4)
    # One audited read of the group's readings for the list, whatever the number of subjects.
    reads = svc.audit_log(admin, username="psych", action="view_readings")["detail"]
    assert list(reads.str.startswith("session=None subject=None ")) == [False, True]  # A-02's timeline, the list

    # Picking C-01's row opens C-01's timeline. AppTest cannot click a row: send the selection the browser sends.
    assert at.selectbox(key="timeline_subject").value == calm.id  # the first code comes first in the picker
    states = at._tree.get_widget_states()
    row = states.widgets.add()
    row.id, row.string_value = at.dataframe[0].proto.id, json.dumps({"selection": {"rows": [0], "columns": []}})
    at._run(states)
    assert not at.exception, at.exception
    assert at.selectbox(key="timeline_subject").value == caseload_timeline.id
    assert "The rule fires in 1 session(s)" in texts(at.error)


# ---------------------------------------------------------------- subjects, outcomes, admin


def test_subjects_page_adds_a_subject_and_records_consent(pilot):
    at = login("teacher")
    at.switch_page("pages/subjects.py").run()
    at.text_input(key="new_subject_code").input("S-04")
    at.button(key="FormSubmitter:add_subject-Add subject").click().run()
    assert not at.exception and not at.error, texts(at.error)
    codes = {s.code: s for s in pilot["svc"].list_subjects(pilot["admin"], pilot["class"].id)}
    assert codes["S-04"].consent == "pending"  # consent is never assumed (issue 14)
    at.selectbox(key="consent_subject").select(codes["S-04"].id)
    at.selectbox(key="consent_value").select("withdrawn")
    at.button(key="FormSubmitter:set_consent-Save consent").click().run()
    consent = {s.code: s.consent for s in pilot["svc"].list_subjects(pilot["admin"], pilot["class"].id)}
    assert consent["S-04"] == "withdrawn"


@pytest.fixture
def outcome_groups(pilot):
    """Two simulated pilots loaded through the service: one whose readings carry no information about the
    outcomes (20 subjects) and one with a planted signal (40 subjects); 3 periods, 25% at risk."""
    from outcome_cohorts import pilot_cohort

    from db.demo import load_demo_cohort

    svc, admin = pilot["svc"], pilot["admin"]
    null = load_demo_cohort(svc, admin, pilot_cohort(20, signal=0.0, seed=0, sessions_per_period=4), "No signal")
    signal = load_demo_cohort(svc, admin, pilot_cohort(40, signal=2.0, seed=0, sessions_per_period=4), "Signal")
    return {"null": null, "signal": signal}


def outcome_study_run(at: AppTest, group_id: int, target: str) -> AppTest:
    at.multiselect(key="train_groups").set_value([group_id]).run()
    at.radio(key="train_target").set_value(target).run()
    assert "80% power" in texts(at.info)  # the power statement is there before anything is fitted
    at.button(key="train").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    return at


@pytest.mark.slow
def test_outcomes_import_reports_bad_lines_and_a_cohort_without_signal_gets_no_ranked_list(pilot, outcome_groups):
    at = login("admin")
    at.switch_page("pages/outcomes.py").run()
    assert not at.exception, at.exception

    # A CSV with one good line and two bad ones: the dry run reports the bad lines.
    at.selectbox(key="import_group").select(outcome_groups["null"]).run()
    csv = (
        b"subject_code,period,grade,at_risk\n"
        b"SIM-001,SIM-2024-T1,7.5,no\nNOBODY,SIM-2024-T1,6,no\nSIM-002,SIM-2024-T1,abc,no\n"
    )
    at.file_uploader(key="outcomes_csv").set_value(("grades.csv", csv, "text/csv")).run()
    assert "2 line(s) will be left out" in texts(at.warning)
    problems = at.dataframe[0].value
    assert set(problems["problem"]) == {"unknown subject code", "grade is not a number"}
    at.button(key="import_csv").click().run()
    assert "Imported 1 row(s)" in texts(at.success)

    for target in ("at_risk", "grade"):
        outcome_study_run(at, outcome_groups["null"], target)
        verdict = texts(at.warning)
        assert "Not enough evidence with 20 subjects" in verdict and "permutation p = " in verdict
        assert "No ranked list" in texts(at.caption)
        assert len(at.dataframe) == 1  # the import report only: no ranked list
        assert not plotly_specs(at) and "dl_ranking" not in {b.key for b in at.get("download_button")}
        assert "Prediction: the features of one period" in texts(at.caption)


@pytest.mark.slow
def test_outcomes_a_cohort_with_signal_gets_the_list_with_out_of_fold_scores(pilot, outcome_groups):
    from vadcore.outcome_study import GRADE_SCORE, RISK_SCORE

    at = login("admin")
    at.switch_page("pages/outcomes.py").run()
    outcome_study_run(at, outcome_groups["signal"], "at_risk")
    assert "Evidence with 40 subjects" in texts(at.success)
    assert [m.label for m in at.metric] == ["AUC", "permutation p"]
    ranked = at.dataframe[-1].value
    assert len(ranked) == 40 and ranked[RISK_SCORE].is_monotonic_decreasing
    assert (ranked["features from"] == "SIM-2024-T3").all()
    assert ranked["drivers (feature value)"].str.len().gt(0).all()
    assert "left that subject out" in texts(at.caption)
    importance = plotly_specs(at)[0]
    assert "Coefficient (change in the risk score" in importance["layout"]["xaxis"]["title"]["text"]
    assert {"dl_ranking", "dl_metrics"} <= {b.key for b in at.get("download_button")}

    outcome_study_run(at, outcome_groups["signal"], "grade")
    assert [m.label for m in at.metric] == ["MAE", "MAE improvement", "R²", "permutation p"]
    assert at.dataframe[-1].value[GRADE_SCORE].is_monotonic_increasing


def test_admin_manages_users_groups_periods_and_retention(pilot):
    svc, admin = pilot["svc"], pilot["admin"]
    at = login("admin")
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception

    at.text_input(key="new_user_name").input("teacher2")
    at.text_input(key="new_user_password").input("teacher2-password-1")
    at.button(key="FormSubmitter:new_user-Create user").click().run()
    assert "teacher2" in {u.username for u in svc.list_users(admin)}

    at.text_input(key="new_group_name").input("Class 5A")
    at.button(key="FormSubmitter:new_group-Create group").click().run()
    groups = {g.name: g for g in svc.list_groups(admin)}
    assert groups["Class 5A"].kind == "class" and not groups["Class 5A"].keep_images

    users = {u.username: u for u in svc.list_users(admin)}
    at.selectbox(key="access_user").select(users["teacher2"].id)
    at.selectbox(key="access_group").select(groups["Class 5A"].id)
    at.button(key="FormSubmitter:access-Grant").click().run()
    assert [g.name for g in svc.list_groups(users["teacher2"])] == ["Class 5A"]

    from datetime import date

    at.text_input(key="period_name").input("2026-T1")
    at.date_input(key="period_start").set_value(date(2026, 1, 1))
    at.date_input(key="period_end").set_value(date(2026, 4, 1))
    at.button(key="FormSubmitter:new_period-Add period").click().run()
    assert [p.name for p in svc.list_periods(admin)] == ["2026-T1"]

    # Model card and version, database size, the retrain instructions.
    assert svc.database_size(admin) > 0
    assert any(m.label == "Model version" for m in at.metric) or not CHECKPOINT.exists()
    assert any("scripts/train.py" in c.value for c in at.code)
    at.button(key="prepare_export").click().run()
    assert any(b.key == "export_download" for b in at.get("download_button"))

    # Retention: deleting S-01 removes the subject with their readings.
    s01 = pilot["subjects"]["S-01"]
    at.selectbox(key="retention_group").select(pilot["class"]).run()
    at.selectbox(key="retention_subject").select(s01.id).run()
    assert at.button(key="retention_delete").disabled
    at.text_input(key="retention_confirm").input("S-01").run()
    at.button(key="retention_delete").click().run()
    assert "Deleted the subject: readings: 0" in texts(at.success) and "Deleted S-01" in texts(at.text)
    assert "S-01" not in {s.code for s in svc.list_subjects(admin, pilot["class"].id)}


def test_admin_sets_retention_purges_and_deletes_a_session_a_period_and_a_group(pilot, make_reading):
    import hashlib
    from datetime import UTC, date, datetime, timedelta

    svc, admin = pilot["svc"], pilot["admin"]
    klass, caseload, s01 = pilot["class"], pilot["caseload"], pilot["subjects"]["S-01"]
    now = datetime.now(UTC)
    checksum = hashlib.sha256(b"photo").hexdigest()
    sessions = {}
    for group, age, assigned in ((klass, 40, [s01.id]), (klass, 0, [s01.id]), (caseload, 10, None)):
        meeting = svc.create_session(
            admin, group.id, started_at=now - timedelta(days=age), context_note="**bold** ![x](http://example.invalid)"
        )
        svc.save_capture(admin, meeting.id, [make_reading()], assigned, checksum, "upload")
        sessions[(group.name, age)] = meeting.id
    svc.set_group_policy(admin, caseload.id, retention_days=7)
    svc.create_period(admin, "2026-T1", date(2026, 1, 1), date(2026, 4, 1))
    sneaky = svc.create_group(admin, "**Sneaky** ![x](http://example.invalid/x.png)", "class")

    at = login("admin")  # the app's start purged the caseload's 10-day-old session
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    assert svc.list_sessions(admin, caseload.id) == []

    at.selectbox(key="policy_group").select(klass.id).run()
    at.number_input(key=f"policy_days_{klass.id}").set_value(30)
    at.button(key="FormSubmitter:group_policy-Save policy").click().run()
    assert not at.error, texts(at.error)
    assert {g.id: g.retention_days for g in svc.list_groups(admin)}[klass.id] == 30
    at.button(key="purge_now").click().run()
    assert "Purged sessions: 1, captures: 1, images: 0, readings: 1." in texts(at.success)
    assert [m.id for m in svc.list_sessions(admin, klass.id)] == [sessions[(klass.name, 0)]]

    groups = {g.id: g for g in svc.list_groups(admin)}
    at.selectbox(key="retention_group").select(groups[klass.id]).run()
    at.selectbox(key="delete_session").select(sessions[(klass.name, 0)]).run()
    assert at.button(key="delete_session_button").disabled
    at.text_input(key="delete_session_confirm").input(str(sessions[(klass.name, 0)])).run()
    at.button(key="delete_session_button").click().run()
    assert "Deleted session" in texts(at.success) and svc.list_sessions(admin, klass.id) == []

    at.selectbox(key="delete_period").select(svc.list_periods(admin)[0].id).run()
    assert at.button(key="delete_period_button").disabled
    at.text_input(key="delete_period_confirm").input("2026-T1").run()
    at.button(key="delete_period_button").click().run()
    assert svc.list_periods(admin) == []

    # A name typed with markdown is shown as typed, never rendered (no image fetched from outside).
    at.selectbox(key="retention_group").select(groups[sneaky.id]).run()
    assert sneaky.name in texts(at.text)
    rendered = texts(at.markdown) + texts(at.caption) + texts(at.success) + texts(at.info) + texts(at.error)
    assert "example.invalid" not in rendered
    assert at.button(key="delete_group_button").disabled
    at.text_input(key="delete_group_confirm").input(sneaky.name).run()
    at.button(key="delete_group_button").click().run()
    assert "Deleted the group: sessions: 0" in texts(at.success)
    assert sneaky.id not in {g.id for g in svc.list_groups(admin)}


def test_account_page_changes_the_own_password_only_with_the_current_one(pilot):
    at = login("psych")
    at.switch_page("pages/account.py").run()
    at.text_input(key="own_current").input("not-the-password")
    at.text_input(key="own_password").input("psych-password-2")
    at.text_input(key="own_repeat").input("psych-password-2")
    at.button(key="FormSubmitter:password-Change password").click().run()
    assert "current password is wrong" in texts(at.error)
    assert pilot["svc"].authenticate("psych", "psych-password-2") is None

    at.text_input(key="own_current").input(PASSWORDS["psych"])
    at.text_input(key="own_password").input("psych-password-2")
    at.text_input(key="own_repeat").input("psych-password-2")
    at.button(key="FormSubmitter:password-Change password").click().run()
    assert "Password changed" in texts(at.success)
    assert pilot["svc"].authenticate("psych", "psych-password-2") is not None
