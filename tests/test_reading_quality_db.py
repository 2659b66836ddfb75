"""Each saved reading keeps its quality verdict (migration 0006): stored, read back, exported, and checked."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest

from db.services import InvalidInput
from vadcore.video import VideoFace

PHOTO = b"\x89PNG quality photo bytes"
CHECKSUM = hashlib.sha256(PHOTO).hexdigest()


@pytest.fixture
def meeting(service, admin):
    group = service.create_group(admin, "7q", "class")
    return service.create_session(admin, group.id, context_note="quality")


def test_quality_flags_are_stored_read_back_and_exported(service, admin, meeting, make_reading):
    readings = [
        make_reading("happy"),
        make_reading("sad", valence=-0.3, quality_flags=("blurred", "low_confidence")),
        make_reading("neutral", quality_flags=("cut_off",)),
    ]
    service.save_capture(admin, meeting.id, readings, None, CHECKSUM, "upload", image_bytes=PHOTO)
    frame = service.readings_frame(admin, session_id=meeting.id)
    assert list(frame["quality_flags"]) == ["", "blurred,low_confidence", "cut_off"]
    rows = list(csv.DictReader(io.StringIO(service.export_readings_csv(admin, session_id=meeting.id))))
    assert [row["quality_flags"] for row in rows] == ["", "blurred,low_confidence", "cut_off"]


def test_video_readings_keep_their_flags(service, admin, meeting, make_reading):
    faces = [
        VideoFace(0, 0.0, 1, make_reading("happy")),
        VideoFace(1, 0.5, 1, make_reading("happy", quality_flags=("turned",))),
    ]
    stored = service.save_video_session(admin, meeting.group_id, faces, {}, CHECKSUM)
    frame = service.readings_frame(admin, session_id=stored.session_id)
    assert list(frame["quality_flags"]) == ["", "turned"]


def test_an_unknown_quality_flag_is_refused(service, admin, meeting, make_reading):
    with pytest.raises(InvalidInput, match="quality flags"):
        service.save_capture(admin, meeting.id, [make_reading(quality_flags=("squinting",))], None, CHECKSUM, "upload")
    assert service.readings_frame(admin, session_id=meeting.id).empty
