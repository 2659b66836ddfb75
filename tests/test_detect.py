"""FaceDetector on the real sample photos, EXIF-rotated copies, face-free images, and the FER-style crops."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vadcore.detect import DetectedFace, FaceDetector, box_iou, crop_face, crop_faces, roll_degrees
from vadcore.images import load_image

from helpers import load_script

# Faces a person sees in each photo (../shared/data/README.md; the small face in obama_and_biden.jpg
# is a girl in the lower right).
EXPECTED_FACES = {
    "32bit.png": 1,
    "biden.jpg": 1,
    "kit_with_rose.jpg": 2,
    "lin-manuel-miranda.png": 1,
    "obama-1080p.jpg": 1,
    "obama-240p.jpg": 1,
    "obama_and_biden.jpg": 3,
    "obama_partial_face.jpg": 1,
    "two_people.jpg": 2,
}


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_box_iou_is_one_for_the_same_box_and_zero_for_disjoint_ones() -> None:
    assert box_iou((10, 10, 20, 20), (10, 10, 20, 20)) == 1.0
    assert box_iou((0, 0, 10, 10), (10, 0, 10, 10)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@pytest.mark.parametrize("name", sorted(EXPECTED_FACES))
def test_each_photo_has_its_faces(photos: Path, detector: FaceDetector, name: str) -> None:
    image = load_image(photos / name)
    faces = detector.detect(image)
    assert len(faces) == EXPECTED_FACES[name]
    height, width = image.shape[:2]
    for face in faces:
        x, y, w, h = face.box
        assert all(isinstance(v, int) for v in face.box)
        assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width and y + h <= height
        assert isinstance(face.score, float) and detector.min_score <= face.score <= 1.0
        assert face.landmarks is not None and len(face.landmarks) == 5
    assert [f.box[0] for f in faces] == sorted(f.box[0] for f in faces)


def test_partial_face_box_is_clipped_to_the_left_edge(photos: Path, detector: FaceDetector) -> None:
    (face,) = detector.detect(load_image(photos / "obama_partial_face.jpg"))
    assert face.box[0] == 0  # the detector's own box starts left of the photo


def test_same_scene_at_two_resolutions_gives_the_same_box(photos: Path, detector: FaceDetector) -> None:
    (large,) = detector.detect(load_image(photos / "obama-1080p.jpg"))
    (small,) = detector.detect(load_image(photos / "obama-240p.jpg"))
    scale = 1080 / 240
    assert box_iou(large.box, tuple(round(v * scale) for v in small.box)) > 0.7


def test_exif_rotated_copy_gives_the_same_boxes(photos: Path, detector: FaceDetector, tmp_path: Path) -> None:
    upright_path = photos / "two_people.jpg"
    upright = detector.detect(load_image(upright_path))
    stored = Image.open(upright_path).transpose(Image.Transpose.ROTATE_90)  # a sideways camera's pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rotated_path = tmp_path / "sideways.jpg"
    stored.save(rotated_path, quality=95, exif=exif)
    rotated = detector.detect(load_image(rotated_path))
    assert len(rotated) == len(upright) == 2
    for a, b in zip(upright, rotated):
        assert box_iou(a.box, b.box) > 0.8


def test_grey_and_rgba_inputs(photos: Path, detector: FaceDetector) -> None:
    rgb = load_image(photos / "two_people.jpg")
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    assert len(detector.detect(grey)) == 2
    assert len(detector.detect(load_image(photos / "lin-manuel-miranda.png"))) == 1  # RGBA file


def test_images_without_faces_give_no_faces(detector: FaceDetector) -> None:
    gradient = np.tile(np.linspace(0, 255, 800, dtype=np.uint8)[None, :, None], (600, 1, 3))
    assert detector.detect(gradient) == []
    rng = np.random.default_rng(0)
    landscape = np.zeros((600, 900, 3), dtype=np.uint8)
    landscape[:] = (120, 170, 230)  # sky
    hills = 350 + (40 * np.sin(np.arange(900) / 90)).astype(int)
    for column, top in enumerate(hills):
        landscape[top:, column] = (60, 130, 50)
    landscape = np.clip(landscape + rng.normal(0, 8, landscape.shape), 0, 255).astype(np.uint8)
    assert detector.detect(landscape) == []


def test_min_score_filters(photos: Path) -> None:
    image = load_image(photos / "obama_and_biden.jpg")
    assert len(FaceDetector(min_score=0.3).detect(image)) == 4  # adds a raised hand (score 0.37)
    assert FaceDetector(min_score=0.99).detect(image) == []


def test_bad_arrays_are_refused(detector: FaceDetector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((100, 100, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((100, 100, 4), dtype=np.uint8))


def test_crop_shape_and_framing() -> None:
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    image[50:150, 100:200] = 255  # the "face": a white 100×100 box
    crop = crop_face(image, (100, 50, 100, 100))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert crop[24, 24] == 255
    # The square is the box itself (margin 1.0, FER2013's framing): white to the edges, the dark beyond left out.
    assert crop[24, 1] == 255 and crop[24, 46] == 255 and crop[1, 24] == 255 and crop[46, 24] == 255
    # A wider margin shows what surrounds the box.
    wide = crop_face(image, (100, 50, 100, 100), margin=1.2)
    assert wide[24, 0] < 128 and wide[24, 47] < 128 and wide[24, 24] == 255


def test_crop_reflects_the_photo_at_its_border_instead_of_repeating_the_edge() -> None:
    image = np.full((100, 100), 200, dtype=np.uint8)
    image[:, 0] = 50  # the left edge column
    image[:, 1:4] = 120  # and the three columns inside it
    crop = crop_face(image, (0, 20, 60, 60), margin=1.1)  # the square reaches 3 px left of the photo
    assert crop.shape == (48, 48)
    assert crop[24, 0] >= 110  # mirrored content (120), not a streak of the edge column (50) nor black
    assert crop_face(image, (0, 20, 60, 60), margin=1.1, padding="edge")[24, 0] <= 55  # the former crop
    mean = crop_face(image, (0, 20, 60, 60), margin=1.1, padding="mean")[24, 0]
    assert 150 < mean < 200  # the mean grey of what is inside
    assert crop_face(image, (0, 20, 60, 60), size=64).shape == (64, 64)
    with pytest.raises(ValueError, match="padding"):
        crop_face(image, (0, 20, 60, 60), padding="wrap")


def test_crop_levels_the_eyes_from_the_landmarks() -> None:
    image = np.full((200, 200), 100, dtype=np.uint8)
    image[80:86, 60:66] = 255  # the eye on the photo's left
    image[110:116, 130:136] = 255  # the other, 30 px lower: a head tilted by 23°
    eyes = ((63, 83), (133, 113))
    face = DetectedFace((50, 50, 100, 100), 0.9, (*eyes, (100, 120), (80, 150), (120, 150)), (50, 50, 100, 100))
    assert roll_degrees(face.landmarks) == pytest.approx(23.2, abs=0.1)

    def eye_rows(crop: np.ndarray) -> tuple[float, float]:
        rows, cols = np.nonzero(crop > 180)
        return rows[cols < 24].mean(), rows[cols >= 24].mean()

    left, right = eye_rows(crop_face(image, face))
    assert abs(left - right) <= 1  # level
    left, right = eye_rows(crop_face(image, face, level=False))
    assert right - left > 5  # as in the photo


def test_a_face_knows_the_detectors_whole_box_and_the_images_size(photos: Path, detector: FaceDetector) -> None:
    image = load_image(photos / "two_people.jpg")
    faces = detector.detect(image)
    assert all(f.image_size == (image.shape[1], image.shape[0]) for f in faces)
    assert all(f.full_box == f.box for f in faces)  # wholly inside: nothing clipped
    cut = detector.detect(np.ascontiguousarray(image[:, 260:]))[0]  # the left face's left part cut away
    assert cut.full_box is not None and cut.full_box[0] < 0 == cut.box[0]
    assert cut.full_box[2] > cut.box[2]


def test_crop_faces_stacks_crops(photos: Path, detector: FaceDetector) -> None:
    image = load_image(photos / "obama_and_biden.jpg")
    faces = detector.detect(image)
    crops = crop_faces(image, faces)
    assert crops.shape == (3, 48, 48) and crops.dtype == np.uint8
    assert crops.std(axis=(1, 2)).min() > 10  # real image content, not padding
    assert crop_faces(image, []).shape == (0, 48, 48)
    assert crop_faces(image, [DetectedFace((0, 0, 30, 30), 0.9)]).shape == (1, 48, 48)


def test_composite_group_photo_faces_are_found(photos: Path, detector: FaceDetector) -> None:
    photo = load_script("make_group_photo").compose_group_photo(30, seed=0, photos=photos)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=90)
    faces = detector.detect(load_image(buffer.getvalue()))
    # 30 placed faces; one tile also shows part of a background face (obama-1080p.jpg's right edge).
    assert 29 <= len(faces) <= 31
