"""Face labels on an annotated photo never overlap and stay inside it: the layout on deliberately crowded
boxes, and the labels the app draws on a 30-face composite of the real sample photos."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vadcore.analysis import PREVIEW_MAX_SIDE, annotate, plan_labels
from vadcore.labels import Box, layout_labels, overlaps
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_COLOURS

from helpers import load_script


def assert_apart_and_inside(boxes: list[Box], size: tuple[int, int]) -> None:
    for a, b in itertools.combinations(boxes, 2):
        assert not overlaps(a, b), f"labels {a} and {b} overlap"
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1], f"label {left, top} outside {size}"


def test_overlaps_is_true_only_for_boxes_sharing_a_pixel() -> None:
    assert overlaps((0, 0, 10, 10), (9, 9, 20, 20))
    assert not overlaps((0, 0, 10, 10), (10, 0, 20, 10))  # touching edges share no pixel
    assert not overlaps((0, 0, 10, 10), (0, 10, 10, 20))


def test_labels_of_faces_in_a_tight_row_do_not_overlap() -> None:
    faces = [(x, 100, 40, 40) for x in range(0, 400, 42)]  # ten faces 2 px apart, labels 120 px wide
    boxes = layout_labels(faces, [(120, 30)] * len(faces), (400, 300))
    assert None not in boxes
    assert_apart_and_inside([b for b in boxes if b is not None], (400, 300))


def test_labels_of_stacked_faces_at_the_edges_stay_inside() -> None:
    faces = [(0, 0, 50, 50), (350, 0, 50, 50), (0, 250, 50, 50), (350, 250, 50, 50), (175, 125, 50, 50)] * 2
    boxes = layout_labels(faces, [(90, 24)] * len(faces), (400, 300))
    assert None not in boxes
    assert_apart_and_inside([b for b in boxes if b is not None], (400, 300))


def test_a_label_with_no_free_place_is_none_not_an_overlap() -> None:
    boxes = layout_labels([(0, 0, 10, 10), (20, 20, 10, 10)], [(100, 60), (100, 60)], (100, 100))
    assert boxes[0] is not None and boxes[1] is None


def test_the_label_nearest_free_place_is_found_when_the_faces_neighbourhood_is_full() -> None:
    taken = [(0, 0, 200, 80), (0, 120, 200, 200)]  # everything above and below the face's row is full
    (box,) = layout_labels([(80, 85, 30, 30)], [(60, 20)], (200, 200), taken)
    assert box is not None and not any(overlaps(box, t) for t in taken)


def reading(box: tuple[int, int, int, int], label: str = "sad") -> FaceReading:
    return FaceReading(label, {label: 0.9}, -0.5, -0.2, -0.3, "test", box=box)


def test_a_crowded_photo_gets_every_face_numbered_without_overlap() -> None:
    readings = [reading((x, y, 30, 30)) for x in range(0, 600, 40) for y in range(0, 400, 40)]  # 150 faces
    labels = plan_labels((600, 400), readings)
    assert_apart_and_inside([label.box for label in labels], (600, 400))
    assert {label.number for label in labels} == set(range(1, len(readings) + 1))
    assert any(label.text == str(label.number) for label in labels)  # some shrank to the number alone


def test_annotate_draws_each_label_where_plan_labels_puts_it() -> None:
    readings = [reading((100, 100, 80, 80)), reading((190, 100, 80, 80), "happy")]
    image = np.full((400, 600, 3), 255, dtype=np.uint8)
    drawn = np.asarray(annotate(image, readings))
    for label in plan_labels((600, 400), readings):
        colour = np.asarray(Image.new("RGB", (1, 1), CLASS_COLOURS[label.text.split()[1]]))[0, 0]
        left, top, right, bottom = label.box
        assert (drawn[top, left] == colour).all() and (drawn[bottom - 1, right - 1] == colour).all()


@pytest.fixture(scope="module")
def predictor():
    from vadcore.inference import EmotionPredictor
    from vadcore.settings import SHIPPED_CHECKPOINT

    if not SHIPPED_CHECKPOINT.exists():
        pytest.skip(f"model checkpoint {SHIPPED_CHECKPOINT} is absent")
    return EmotionPredictor(device="cpu")


@pytest.mark.slow
def test_labels_on_the_30_face_composite_as_the_app_draws_it_do_not_overlap(photos: Path, predictor) -> None:
    from vadcore.analysis import analyse_photo, preview_jpeg

    photo = load_script("make_group_photo").compose_group_photo(30, seed=0, photos=photos)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=90)
    analysis = analyse_photo(buffer.getvalue(), predictor)
    preview = Image.open(io.BytesIO(preview_jpeg(analysis)))  # the image the Analyse page shows
    assert max(preview.size) == PREVIEW_MAX_SIDE and len(analysis.readings) >= 29
    labels = plan_labels(preview.size, analysis.readings, photo_size=analysis.size)
    assert_apart_and_inside([label.box for label in labels], preview.size)
    assert [label.number for label in labels] == list(range(1, len(analysis.readings) + 1))  # as the table
    assert all("\n" in label.text for label in labels)  # at this size every label keeps its reading
