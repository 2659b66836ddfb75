"""Writes are atomic, cascade where they should, survive crashes and concurrent writers, and keep
simulated data apart from real data."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from datetime import UTC

import pytest
from sqlalchemy import event, text

from db.services import InvalidInput
from vadcore.settings import PROJECT_ROOT

PHOTO = b"\x89PNG fake photo bytes"
CHECKSUM = hashlib.sha256(PHOTO).hexdigest()
TABLES = ("users", "groups", "subjects", "sessions", "captures", "face_readings", "outcomes", "periods")


@pytest.fixture
def klass(service, admin):
    """A class with two consenting subjects and one session."""
    group = service.create_group(admin, "7a", "class")
    subjects = [service.create_subject(admin, group.id, code, consent="granted") for code in ("S-01", "S-02")]
    meeting = service.create_session(admin, group.id, context_note="maths")
    return group, subjects, meeting


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def test_a_capture_is_stored_with_its_readings_and_assignments(service, admin, klass, make_reading):
    group, (s1, s2), meeting = klass
    result = service.save_capture(
        admin,
        meeting.id,
        [make_reading("happy"), make_reading("sad", valence=-0.4), make_reading("neutral")],
        [s1.id, s2.id, None],
        CHECKSUM,
        "upload",
        image_bytes=PHOTO,
    )
    assert len(result.reading_ids) == 3 and not result.image_kept
    frame = service.readings_frame(admin, session_id=meeting.id)
    assert list(frame["subject_code"].fillna("-")) == ["S-01", "S-02", "-"]
    assert list(frame["label"]) == ["happy", "sad", "neutral"]
    assert frame.loc[1, "valence"] == pytest.approx(-0.4)
    assert frame["captured_at"].dt.tz is not None
    assert service.capture_image(admin, result.capture_id) is None  # policy: photos not kept


def test_the_photo_is_kept_only_where_the_group_policy_says_so(service, admin, make_reading):
    group = service.create_group(admin, "Studio", "class", keep_images=True)
    meeting = service.create_session(admin, group.id)
    result = service.save_capture(admin, meeting.id, [make_reading()], None, CHECKSUM, "upload", image_bytes=PHOTO)
    assert result.image_kept and service.capture_image(admin, result.capture_id) == PHOTO


def test_a_checksum_that_does_not_match_the_photo_is_refused(service, admin, klass, make_reading):
    with pytest.raises(InvalidInput):
        service.save_capture(admin, klass[2].id, [make_reading()], None, "0" * 64, "upload", image_bytes=PHOTO)


def test_readings_need_consent_and_the_same_group(service, admin, klass, make_reading):
    group, (s1, _), meeting = klass
    pending = service.create_subject(admin, group.id, "S-03")
    other = service.create_group(admin, "7b", "class")
    stranger = service.create_subject(admin, other.id, "S-01", consent="granted")
    before = counts(service.engine)
    for subject in (pending, stranger):
        with pytest.raises(InvalidInput):
            service.save_capture(admin, meeting.id, [make_reading()], [subject.id], CHECKSUM, "upload")
    assert counts(service.engine) == before


def test_deleting_a_subject_deletes_their_readings_and_outcomes(service, admin, klass, make_reading):
    from datetime import date

    group, (s1, s2), meeting = klass
    service.save_capture(
        admin, meeting.id, [make_reading(), make_reading(), make_reading()], [s1.id, s1.id, s2.id], CHECKSUM, "upload"
    )
    service.create_period(admin, "T1", date(2000, 1, 1), date(2100, 1, 1))
    service.import_outcomes(admin, group.id, "subject_code,period,grade\nS-01,T1,4\nS-02,T1,5\n")
    service.delete_subject(admin, s1.id)
    frame = service.readings_frame(admin)
    assert list(frame["subject_code"]) == ["S-02"]
    assert list(service.outcomes_frame(admin, group.id)["subject_code"]) == ["S-02"]
    assert [s.code for s in service.list_subjects(admin, group.id)] == ["S-02"]
    assert counts(service.engine)["captures"] == 1  # the capture stays with the other subject's reading


def test_an_error_midway_through_a_capture_leaves_the_database_as_before(service, admin, klass, make_reading):
    _, (s1, s2), meeting = klass
    before = counts(service.engine)

    def fail_on_readings(conn, cursor, statement, params, context, executemany):
        # The capture row is already written when the readings go in: this is mid-transaction.
        if statement.lstrip().upper().startswith("INSERT INTO FACE_READINGS"):
            raise RuntimeError("injected crash")

    event.listen(service.engine, "before_cursor_execute", fail_on_readings)
    try:
        with pytest.raises(RuntimeError, match="injected crash"):
            service.save_capture(
                admin, meeting.id, [make_reading(), make_reading()], [s1.id, s2.id], CHECKSUM, "upload"
            )
    finally:
        event.remove(service.engine, "before_cursor_execute", fail_on_readings)
    assert counts(service.engine) == before
    service.save_capture(admin, meeting.id, [make_reading()], [s1.id], CHECKSUM, "upload")  # still usable
    assert counts(service.engine)["face_readings"] == 1


# A child process that dies (os._exit, no clean-up) after writing the capture row, mid-transaction.
_KILLED_WRITER = """
import json, os, sys
from sqlalchemy import event
from db import make_engine
from db.services import Service
from db.views import UserInfo
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES
args = json.loads(sys.argv[1])
engine = make_engine(args["url"], connect_args=args["connect_args"])
def die(conn, cursor, statement, *rest):
    if statement.lstrip().upper().startswith("INSERT INTO FACE_READINGS"):
        os._exit(3)
event.listen(engine, "before_cursor_execute", die)
probs = {c: 1 / 7 for c in CLASS_NAMES}
reading = FaceReading("neutral", probs, 0.0, 0.0, 0.0, "test-1")
Service(engine).save_capture(UserInfo(**args["actor"]), args["session_id"], [reading, reading],
                             [None, None], "a" * 64, "upload")
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    # The project is installed (editable): the child imports it like any package.
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _actor_json(user) -> dict:
    return {k: getattr(user, k) for k in ("id", "username", "role", "display_name", "is_active")}


def test_a_process_killed_mid_write_leaves_the_database_as_before(database, service, admin, klass):
    before = counts(service.engine)
    service.engine.dispose()  # no pooled SQLite connection of ours holds the file meanwhile
    payload = json.dumps(
        {
            "url": database.url,
            "connect_args": database.connect_args,
            "actor": _actor_json(admin),
            "session_id": klass[2].id,
        }
    )
    proc = _child(_KILLED_WRITER, payload)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert counts(service.engine) == before
    if service.engine.dialect.name == "sqlite":
        with service.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


_WRITER = """
import json, sys
from db import make_engine
from db.services import Service
from db.views import UserInfo
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES
args = json.loads(sys.argv[1])
service = Service(make_engine(args["url"], connect_args=args["connect_args"]))
probs = {c: 1 / 7 for c in CLASS_NAMES}
reading = FaceReading("neutral", probs, 0.0, 0.0, 0.0, "test-1")
for i in range(args["n"]):
    service.save_capture(UserInfo(**args["actor"]), args["session_id"], [reading] * 3,
                         [args["subject_id"]] * 3, "b" * 64, "upload")
"""


@pytest.mark.slow
def test_concurrent_writer_processes_lose_nothing(database, service, admin, klass):
    _, (s1, _), meeting = klass
    n_procs, n_each = 4, 10
    payload = json.dumps(
        {
            "url": database.url,
            "connect_args": database.connect_args,
            "n": n_each,
            "actor": _actor_json(admin),
            "session_id": meeting.id,
            "subject_id": s1.id,
        }
    )
    procs = [_child(_WRITER, payload) for _ in range(n_procs)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    frame = service.readings_frame(admin, session_id=meeting.id)
    assert len(frame) == n_procs * n_each * 3
    assert frame["capture_id"].nunique() == n_procs * n_each


def test_concurrent_writer_threads_lose_nothing(service, admin, klass, make_reading):
    _, (s1, s2), meeting = klass
    errors: list[BaseException] = []

    def write(subject_id: int) -> None:
        try:
            for _ in range(10):
                service.save_capture(admin, meeting.id, [make_reading()], [subject_id], CHECKSUM, "upload")
                service.readings_frame(admin, subject_id=subject_id)
        except BaseException as exc:  # reported below; a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(sid,)) for sid in (s1.id, s2.id, s1.id, s2.id)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(service.readings_frame(admin, session_id=meeting.id)) == 40


def test_simulated_subjects_and_captures_stay_out_of_real_groups(service, admin, klass, make_reading):
    real_group, (s1, _), meeting = klass
    sim_group = service.create_group(admin, "[SIMULATED] demo", "class", is_simulated=True)
    with pytest.raises(InvalidInput):
        service.create_subject(admin, real_group.id, "SIM-001", consent="granted", is_simulated=True)
    with pytest.raises(InvalidInput):
        service.create_subject(admin, sim_group.id, "REAL-1", consent="granted")
    with pytest.raises(InvalidInput):
        service.save_capture(admin, meeting.id, [make_reading()], [s1.id], CHECKSUM, "simulated")
    sim_meeting = service.create_session(admin, sim_group.id)
    with pytest.raises(InvalidInput):  # a real subject's face cannot go into a simulated session
        service.save_capture(admin, sim_meeting.id, [make_reading()], [s1.id], CHECKSUM, "simulated")


def test_readings_are_filtered_by_date_and_exported_as_csv(service, admin, klass, make_reading):
    from datetime import datetime

    _, (s1, _), meeting = klass
    for month in (1, 2, 3):
        service.save_capture(
            admin,
            meeting.id,
            [make_reading()],
            [s1.id],
            CHECKSUM,
            "upload",
            captured_at=datetime(2024, month, 10, tzinfo=UTC),
        )
    feb = service.readings_frame(admin, start=datetime(2024, 2, 1, tzinfo=UTC), end=datetime(2024, 3, 1, tzinfo=UTC))
    assert list(feb["captured_at"].dt.month) == [2]
    csv = service.export_readings_csv(admin, subject_id=s1.id)
    lines = csv.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("reading_id,") and "2024-03-10T00:00:00Z" in lines[3]
    with pytest.raises(InvalidInput):
        service.readings_frame(admin, start=datetime(2024, 2, 1))  # naive time


# ---------------------------------------------------------------- videos


def video_faces(make_reading, tracks: dict[int, list[float]]):
    """VideoFaces in time order: for each track id, a reading at each of its frame times."""
    from vadcore.video import VideoFace

    faces = [
        (time_s, track_id, make_reading("happy" if track_id == 1 else "sad", valence=0.1 * track_id))
        for track_id, times in tracks.items()
        for time_s in times
    ]
    faces.sort(key=lambda f: (f[0], f[1]))
    return [VideoFace(round(t * 2), t, track_id, reading) for t, track_id, reading in faces]


def png_bytes() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (192, 110), (200, 180, 160)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_video_is_saved_as_a_new_session_with_frame_times_and_tracks(service, admin, klass, make_reading):
    from datetime import datetime, timedelta

    group, (s1, _), meeting = klass
    faces = video_faces(make_reading, {1: [0.0, 0.5, 1.0, 1.5], 2: [0.5, 1.0]})
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    result = service.save_video_session(
        admin, group.id, faces, {1: s1.id, 2: None}, CHECKSUM, context_note="reading circle", started_at=start
    )
    assert result.session_id != meeting.id and len(result.reading_ids) == 6 and not result.image_kept
    new = {s.id: s for s in service.list_sessions(admin, group.id)}[result.session_id]
    assert new.context_note == "reading circle" and new.started_at == start

    frame = service.readings_frame(admin, session_id=result.session_id)
    assert list(frame["face_index"]) == list(range(6))
    assert list(frame["frame_time_s"]) == [0.0, 0.5, 0.5, 1.0, 1.0, 1.5]
    assert list(frame["track_id"]) == [1, 1, 2, 1, 2, 1]
    assert set(frame.loc[frame["track_id"] == 1, "subject_code"]) == {"S-01"}
    assert frame.loc[frame["track_id"] == 2, "subject_id"].isna().all()
    # A video reading's moment is the recording's start plus its frame time.
    assert list(frame["captured_at"]) == [start + timedelta(seconds=t) for t in frame["frame_time_s"]]
    with service.engine.connect() as conn:
        stored = conn.execute(text(f"SELECT source, checksum FROM captures WHERE id = {result.capture_id}")).one()
    assert tuple(stored) == ("video", CHECKSUM)

    # Date filters act on that moment, to the second.
    late = service.readings_frame(admin, start=start + timedelta(seconds=0.75), end=start + timedelta(seconds=1.25))
    assert list(late["frame_time_s"]) == [1.0, 1.0]
    # Photo readings keep no frame time; the CSV export carries both columns.
    service.save_capture(admin, meeting.id, [make_reading()], [s1.id], CHECKSUM, "upload")
    mixed = service.readings_frame(admin, subject_id=s1.id)
    assert mixed["frame_time_s"].isna().sum() == 1 and mixed["track_id"].notna().sum() == 4
    header = service.export_readings_csv(admin, session_id=result.session_id).splitlines()[0].split(",")
    assert {"frame_time_s", "track_id"} <= set(header)
    assert "dominance_experimental" in header and "dominance" not in header  # the header says it is experimental
    audit = service.audit_log(admin)
    detail = audit.loc[audit["action"] == "save_video", "detail"].item()
    assert f"session={result.session_id}" in detail and "faces=6 tracks=2 assigned=1" in detail


def test_a_refused_video_leaves_nothing_written(service, admin, klass, make_reading):
    from db.services import PermissionDenied

    group, (s1, s2), _ = klass
    pending = service.create_subject(admin, group.id, "S-03")
    other = service.create_group(admin, "7b", "class")
    stranger = service.create_subject(admin, other.id, "S-09", consent="granted")
    simulated = service.create_group(admin, "[SIMULATED] demo", "class", is_simulated=True)
    outsider = service.create_user(admin, "teacher2", "teacher-password-1", "teacher")
    faces = video_faces(make_reading, {1: [0.0, 0.5], 2: [0.0, 0.5]})
    before = counts(service.engine)
    refused = [
        (group.id, {1: s1.id, 2: pending.id}),  # no consent on record for one of the tracks
        (group.id, {1: stranger.id}),  # a subject of another group
        (group.id, {1: s1.id, 2: s1.id}),  # one subject on two tracks
        (group.id, {3: s2.id}),  # a track the video does not have
        (simulated.id, {}),  # real recordings stay out of simulated groups
    ]
    for group_id, assignments in refused:
        with pytest.raises(InvalidInput):
            service.save_video_session(admin, group_id, faces, assignments, CHECKSUM)
    with pytest.raises(InvalidInput):
        service.save_video_session(admin, group.id, faces, {}, "not-a-checksum")
    with pytest.raises(InvalidInput):
        service.save_video_session(admin, group.id, [], {}, CHECKSUM)
    with pytest.raises(InvalidInput):  # a reading outside the VAD scale
        service.save_video_session(
            admin, group.id, video_faces(lambda *a, **kw: make_reading(valence=3.0), {1: [0.0]}), {}, CHECKSUM
        )
    with pytest.raises(PermissionDenied):
        service.save_video_session(outsider, group.id, faces, {}, CHECKSUM)
    assert counts(service.engine) == before


def test_a_videos_contact_sheet_is_kept_only_where_the_group_keeps_photos(service, admin, klass, make_reading):
    faces = video_faces(make_reading, {1: [0.0, 0.5]})
    sheet = png_bytes()
    plain = service.save_video_session(admin, klass[0].id, faces, {}, CHECKSUM, thumbnails_png=sheet)
    assert not plain.image_kept and service.capture_image(admin, plain.capture_id) is None

    studio = service.create_group(admin, "Studio", "class", keep_images=True)
    kept = service.save_video_session(admin, studio.id, faces, {}, CHECKSUM, thumbnails_png=sheet)
    assert kept.image_kept and service.capture_image(admin, kept.capture_id) == sheet
    bare = service.save_video_session(admin, studio.id, faces, {}, CHECKSUM)
    assert not bare.image_kept and service.capture_image(admin, bare.capture_id) is None
    with pytest.raises(InvalidInput):  # only a PNG contact sheet, never the video's own bytes
        service.save_video_session(admin, studio.id, faces, {}, CHECKSUM, thumbnails_png=b"\x00\x00\x00 ftypisom")
