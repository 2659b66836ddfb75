"""The quality verdict (vadcore/quality.py) on real faces from the sample photos: each reason fires on the face
it describes and stays quiet on whole, sharp, frontal faces; photo and video readings carry it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from vadcore.detect import DetectedFace, FaceDetector, crop_face, crop_faces
from vadcore.images import load_image
from vadcore.quality import (
    BLURRED,
    CUT_OFF,
    FLAGS,
    LOW_CONFIDENCE,
    MIN_SHARPNESS,
    SMALL,
    TURNED,
    describe,
    face_flags,
    judged,
    sharpness,
    yaw_ratio,
)
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def flags_of(image: np.ndarray, detector: FaceDetector) -> list[tuple[str, ...]]:
    faces = detector.detect(image)
    return [face_flags(face, crop) for face, crop in zip(faces, crop_faces(image, faces))]


def shrunk(image: np.ndarray, factor: int) -> np.ndarray:
    size = (image.shape[1] // factor, image.shape[0] // factor)
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def test_whole_sharp_frontal_faces_raise_no_flag(photos: Path, detector: FaceDetector) -> None:
    for name in ("two_people.jpg", "biden.jpg", "kit_with_rose.jpg", "obama-1080p.jpg", "obama-240p.jpg"):
        assert all(flags == () for flags in flags_of(load_image(photos / name), detector)), name


def test_a_face_shrunk_under_32_pixels_is_too_small(photos: Path, detector: FaceDetector) -> None:
    image = load_image(photos / "two_people.jpg")  # faces about 150×200 px
    assert [SMALL in f for f in flags_of(shrunk(image, 4), detector)] == [False, False]  # boxes of ~50 px
    tiny = flags_of(shrunk(image, 7), detector)  # boxes of ~26 px
    assert len(tiny) == 2 and all(SMALL in f for f in tiny)


def test_a_blurred_face_is_flagged_blurred(photos: Path, detector: FaceDetector) -> None:
    image = load_image(photos / "biden.jpg")
    (face,) = detector.detect(image)
    crop = crop_face(image, face)
    assert sharpness(crop) > MIN_SHARPNESS and face_flags(face, crop) == ()
    soft = np.asarray(Image.fromarray(crop).filter(ImageFilter.GaussianBlur(1.5)))
    assert sharpness(soft) < MIN_SHARPNESS
    assert face_flags(face, soft) == (BLURRED,)
    # The same blur on the whole photo, before cropping: σ = 9 px of a 290-px face is σ 1.5 of the crop.
    photo_blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(9)))
    assert flags_of(photo_blurred, detector) == [(BLURRED,)]


def test_the_turned_background_face_is_flagged_turned_and_the_frontal_ones_are_not(
    photos: Path, detector: FaceDetector
) -> None:
    faces = detector.detect(load_image(photos / "obama_and_biden.jpg"))
    ratios = [yaw_ratio(f.landmarks) for f in faces]
    assert abs(ratios[0]) < 0.15 and abs(ratios[1]) < 0.15  # the two men facing the camera
    assert ratios[2] < -0.3  # the small face behind them, its nose far towards its left eye
    assert [TURNED in flags for flags in flags_of(load_image(photos / "obama_and_biden.jpg"), detector)] == [
        False,
        False,
        True,
    ]


def test_yaw_is_measured_along_the_eyes_so_a_tilted_frontal_face_is_not_turned() -> None:
    frontal = ((100, 100), (160, 100), (130, 130), (108, 160), (152, 160))
    turned = ((100, 100), (160, 100), (150, 130), (118, 160), (160, 160))
    assert yaw_ratio(frontal) == 0 and yaw_ratio(turned) == pytest.approx(20 / 60)
    angle = np.radians(35)  # the frontal face rolled by 35° about its eyes' midpoint
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = tuple(tuple(int(round(v)) for v in rot @ (np.array(p) - (130, 100)) + (130, 100)) for p in frontal)
    assert abs(yaw_ratio(tilted)) < 0.05


def test_a_face_cut_off_at_the_photos_edge_is_flagged(photos: Path, detector: FaceDetector) -> None:
    assert flags_of(load_image(photos / "obama_partial_face.jpg"), detector) == [(CUT_OFF,)]
    image = load_image(photos / "two_people.jpg")  # the left face spans x 236-384
    assert flags_of(np.ascontiguousarray(image[:, 220:]), detector) == [(), ()]  # 16 px to spare: whole
    assert flags_of(np.ascontiguousarray(image[:, 270:]), detector)[0] == (CUT_OFF,)  # cut through its cheek


def test_without_the_images_size_a_face_is_never_called_cut_off() -> None:
    crop = np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))
    crop[::2] = 0  # sharp stripes
    assert face_flags(DetectedFace((0, 0, 100, 100), 0.9), crop) == ()


def reading(top: float) -> FaceReading:
    rest = (1 - top) / (len(CLASS_NAMES) - 1)
    probabilities = {c: (top if c == "sad" else rest) for c in CLASS_NAMES}
    return FaceReading("sad", probabilities, -0.4, -0.2, -0.1, "test-1")


def test_a_reading_whose_calibrated_top_class_is_under_35_percent_has_low_confidence() -> None:
    assert judged(reading(0.34)).quality_flags == (LOW_CONFIDENCE,)
    assert judged(reading(0.36)).quality_flags == ()
    both = judged(reading(0.3), (CUT_OFF, SMALL))
    assert both.quality_flags == (SMALL, CUT_OFF, LOW_CONFIDENCE) and both.is_flagged  # in FLAGS order
    with pytest.raises(ValueError, match="unknown quality flags"):
        judged(reading(0.9), ("squinting",))


def test_the_verdict_reads_in_plain_language_from_codes_or_as_stored() -> None:
    assert describe(()) == "" and describe("") == ""
    text = describe((SMALL, TURNED))
    assert text == describe("small,turned") and text.startswith("face too small (under 32 pixels); face turned")
    assert all(describe([flag]) for flag in FLAGS)


@pytest.mark.slow
def test_photo_readings_carry_their_verdict(photos: Path, detector: FaceDetector) -> None:
    from vadcore.analysis import analyse_photo
    from vadcore.inference import EmotionPredictor
    from vadcore.settings import SHIPPED_CHECKPOINT

    if not SHIPPED_CHECKPOINT.exists():
        pytest.skip(f"model checkpoint {SHIPPED_CHECKPOINT} is absent")
    predictor = EmotionPredictor(device="cpu", use_ten_crop=False)
    turned = analyse_photo(photos / "obama_and_biden.jpg", predictor, detector).readings
    assert [TURNED in r.quality_flags for r in turned] == [False, False, True]
    (cut,) = analyse_photo(photos / "obama_partial_face.jpg", predictor, detector).readings
    assert CUT_OFF in cut.quality_flags


def still_clip(rgb: np.ndarray, frames: int = 3, fps: int = 2) -> bytes:
    """An MP4 of one photo held for `frames` frames (even-sized, as the encoder needs)."""
    import av

    rgb = np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
        for _ in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return buffer.getvalue()


@pytest.mark.slow
def test_video_readings_carry_their_verdict(photos: Path, detector: FaceDetector) -> None:
    from vadcore.inference import EmotionPredictor
    from vadcore.settings import SHIPPED_CHECKPOINT
    from vadcore.video import analyse_video

    if not SHIPPED_CHECKPOINT.exists():
        pytest.skip(f"model checkpoint {SHIPPED_CHECKPOINT} is absent")
    clip = still_clip(load_image(photos / "obama_partial_face.jpg"))
    result = analyse_video(io.BytesIO(clip), EmotionPredictor(device="cpu"), detector, views="single")
    assert result.faces and all(CUT_OFF in f.reading.quality_flags for f in result.faces)


# ---------------------------------------------------------------- what the pages save


def test_the_pages_leave_flagged_readings_out_of_saving_unless_included() -> None:
    from ui import photos as page_photos
    from ui import video as page_video
    from vadcore.video import VideoAnalysis, VideoFace

    good, turned = judged(reading(0.9)), judged(reading(0.9), (TURNED,))
    assert page_photos.to_save([good, turned], [11, 12], exclude_flagged=True) == ([good], [11])
    assert page_photos.to_save([good, turned], [11, 12], exclude_flagged=False) == ([good, turned], [11, 12])
    assert page_photos.left_out_note([good, turned], True) == "Face 2 will be left out when saving: quality warning."
    assert page_photos.left_out_note([good, turned], False) == ""
    assert page_photos.quality_note(turned) == "face turned away from the camera"

    analysis = VideoAnalysis("clip", 2.0, 64, 64, 2.0)
    analysis.faces = [VideoFace(0, 0.0, 1, good), VideoFace(1, 0.5, 1, turned), VideoFace(1, 0.5, 2, turned)]
    faces, assignments = page_video.to_save(analysis, {1: 7, 2: 8}, exclude_flagged=True)
    assert faces == analysis.faces[:1] and assignments == {1: 7}  # track 2 has nothing left to save
    assert page_video.to_save(analysis, {1: 7, 2: 8}, exclude_flagged=False) == (analysis.faces, {1: 7, 2: 8})
    assert page_video.track_quality_note(analysis, 1) == (
        "1 of 2 readings have a quality warning: face turned away from the camera ×1."
    )
    assert page_video.track_quality_note(analysis, 3) == ""
