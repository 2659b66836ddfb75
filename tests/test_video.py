"""The video path on the real clips in ../shared/data/videos and on a composed classroom clip whose true
face positions are known: decoding, sampling, tracking, reading, smoothing, and bad or broken files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from vadcore.detect import FaceDetector
from vadcore.inference import EmotionPredictor
from vadcore.video import IoUTracker, VideoAnalysis, VideoError, analyse_video

from helpers import load_script


@pytest.fixture(scope="module")
def predictor() -> EmotionPredictor:
    return EmotionPredictor(device="cpu")


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def largest_track_share(result: VideoAnalysis) -> float:
    return max((t.n_faces for t in result.tracks), default=0) / result.sampled_frames


# ---------------------------------------------------------------- the real clips


def test_single_face_clip_gives_one_track_over_its_frames(videos: Path, predictor, detector):
    result = analyse_video(videos / "single_face.mp4", predictor, detector)
    assert result.sampled_frames == 5  # 2.4 s at 2 frames/s: 0, 0.5, … 2.0 s
    assert len(result.tracks) == 1 and largest_track_share(result) >= 0.9
    assert result.stopped_early is None and result.smoothing == "none"
    times = [f.time_s for f in result.faces]
    assert times == sorted(times) and times[0] == 0.0
    assert result.tracks[0].thumbnail.shape == (96, 96, 3)


def test_a_clip_without_faces_gives_no_track(videos: Path, predictor, detector):
    result = analyse_video(videos / "no_face.mp4", predictor, detector)
    assert result.sampled_frames == 8 and not result.has_faces and result.tracks == []


def test_a_real_recording_gives_one_timeline_with_readings_on_the_vad_scale(videos: Path, predictor, detector):
    fractions: list[float] = []
    result = analyse_video(videos / "WolfgangLanger_Pexels.mp4", predictor, detector, progress=fractions.append)
    assert result.duration_s == pytest.approx(19.7, abs=0.1) and result.sampled_frames == 40
    assert len(result.tracks) == 1 and largest_track_share(result) >= 0.9
    vad = np.array([[f.reading.valence, f.reading.arousal, f.reading.dominance] for f in result.faces])
    assert np.abs(vad).max() <= 1 and vad.std(axis=0).max() > 0.01  # readings move over the clip
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 10


def test_smoothing_is_stated_and_calms_the_timeline(videos: Path, predictor, detector):
    raw = analyse_video(videos / "WolfgangLanger_Pexels.mp4", predictor, detector)
    smooth = analyse_video(videos / "WolfgangLanger_Pexels.mp4", predictor, detector, smoothing="ema", ema_alpha=0.3)
    assert smooth.smoothing == "ema(alpha=0.3)"

    def jitter(result: VideoAnalysis) -> float:
        return float(np.abs(np.diff([f.reading.valence for f in result.faces])).mean())

    assert jitter(smooth) < 0.6 * jitter(raw)
    assert [f.reading.label for f in smooth.faces] == [f.reading.label for f in raw.faces]  # classes untouched


def test_a_video_from_memory_reads_like_the_file(videos: Path, predictor, detector):
    data = (videos / "single_face.mp4").read_bytes()
    from_bytes = analyse_video(io.BytesIO(data), predictor, detector, name="upload.mp4")
    from_file = analyse_video(videos / "single_face.mp4", predictor, detector)
    assert from_bytes.name == "upload.mp4"
    assert [f.reading.label for f in from_bytes.faces] == [f.reading.label for f in from_file.faces]


# ---------------------------------------------------------------- bad and broken files


@pytest.mark.parametrize("content", [b"", b"minutes of the meeting\n" * 50], ids=["empty", "text"])
def test_a_file_that_is_not_a_video_gets_a_plain_error(tmp_path: Path, predictor, detector, content: bytes):
    path = tmp_path / "lesson.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match="not a readable video"):
        analyse_video(path, predictor, detector)


def test_a_cut_off_video_keeps_what_was_read_and_says_so(tmp_path: Path, videos: Path, predictor, detector):
    data = (videos / "WolfgangLanger_Pexels.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    result = analyse_video(path, predictor, detector)
    assert 5 <= result.sampled_frames < 40 and len(result.faces) == result.sampled_frames
    assert result.stopped_early is not None and "cut short" in result.stopped_early


def test_a_video_damaged_midway_keeps_the_frames_before_the_damage(tmp_path: Path, videos: Path, predictor, detector):
    data = bytearray((videos / "WolfgangLanger_Pexels.mp4").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200_000] = bytes(200_000)
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(data))
    result = analyse_video(path, predictor, detector)
    assert 5 <= result.sampled_frames < 40 and result.has_faces
    assert result.stopped_early is not None


# ---------------------------------------------------------------- tracking


def test_tracks_survive_a_short_gap_and_end_after_a_long_one():
    tracker = IoUTracker(max_gap=2)
    first = tracker.update([(100, 100, 50, 60)])[0]
    assert tracker.update([]) == [] and tracker.update([]) == []  # two samples without the face
    assert tracker.update([(104, 100, 50, 60)]) == [first]
    for _ in range(3):
        tracker.update([])
    assert tracker.update([(104, 100, 50, 60)]) != [first]


def test_two_faces_walking_past_each_other_keep_their_tracks():
    tracker = IoUTracker()
    ids = None
    for step in range(12):  # 35 px per sample, a little more than half a face width
        left, right = (50 + 35 * step, 100, 50, 66), (435 - 35 * step, 120, 50, 66)
        got = tracker.update([left, right])
        ids = ids or got
        assert got == ids, f"identities swapped at step {step}"


@pytest.mark.slow
def test_every_face_of_a_composed_classroom_clip_gets_a_track_with_few_identity_switches(
    tmp_path: Path, photos: Path, predictor, detector
):
    """20 faces (tiles of the real sample photos) swaying in their seats, two crossing paths; the clip is a
    composite with known positions (scripts/make_classroom_clip.py)."""
    clip = load_script("make_classroom_clip", after=("make_group_photo",))
    truth = clip.compose_classroom_clip(tmp_path / "class.mp4", seconds=30, fps=10, n_faces=20, photos=photos)
    result = analyse_video(tmp_path / "class.mp4", predictor, detector)
    assert result.sampled_frames == 60

    def true_face(time_s: float, box: tuple[int, int, int, int]) -> int | None:
        """The placed face whose tile centre is within a quarter tile of the detection's centre."""
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        for face_id, x, y, side in truth.frames[round(time_s * truth.fps)]:
            if abs(cx - (x + side / 2)) <= side / 4 and abs(cy - (y + side / 2)) <= side / 4:
                return face_id
        return None

    track_of: dict[int, int] = {}
    switches = 0
    for face in result.faces:
        face_id = true_face(face.time_s, face.reading.box)
        if face_id is None:
            continue
        if face_id in track_of and track_of[face_id] != face.track_id:
            switches += 1
        track_of[face_id] = face.track_id
    print(f"composed clip: {len(track_of)} of 20 faces tracked, {switches} identity switches in 60 sampled frames")
    assert len(track_of) == 20
    assert switches / result.sampled_frames <= 0.01
