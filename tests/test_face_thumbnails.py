"""Each face's thumbnail for the Analyse page's assignment grid (issue 14): face N's picture shows face N, whole,
square, from the unlabelled photo, also where the face touches the photo's edge or the photo was analysed shrunk.

Painted photos with faces of known colours at known places stand in for faces: what is checked is where the cut is.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from vadcore.analysis import PhotoAnalysis, face_thumbnails

GREY, RED, BLUE, GREEN = (128, 128, 128), (220, 20, 20), (20, 20, 220), (20, 200, 20)


def painted(size: tuple[int, int], faces: list[tuple[tuple[int, int, int, int], tuple[int, int, int]]]) -> np.ndarray:
    """A grey RGB photo of `size` (width, height) with each (x, y, w, h) box filled with its colour."""
    image = np.full((size[1], size[0], 3), GREY, dtype=np.uint8)
    for (x, y, w, h), colour in faces:
        image[y : y + h, x : x + w] = colour
    return image


def analysis_of(image: np.ndarray, boxes, size: tuple[int, int], make_reading) -> PhotoAnalysis:
    readings = [replace(make_reading(), box=box) for box in boxes]
    return PhotoAnalysis(image, readings, "c" * 64, np.zeros((len(boxes), 48, 48), np.uint8), size)


def decoded(jpeg: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG"
    return np.asarray(picture.convert("RGB")).astype(int)


def colour_near(pixels: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixels - np.array(colour)).max() < 40)


def test_each_face_gets_a_square_thumbnail_of_itself_in_the_readings_order(make_reading):
    red, blue = (40, 50, 60, 60), (250, 120, 80, 100)
    image = painted((400, 300), [(red, RED), (blue, BLUE)])
    thumbs = face_thumbnails(analysis_of(image, [red, blue], (400, 300), make_reading), side=96)

    assert len(thumbs) == 2
    first, second = decoded(thumbs[0]), decoded(thumbs[1])
    assert first.shape == second.shape == (96, 96, 3)
    assert colour_near(first[48, 48], RED) and colour_near(second[48, 48], BLUE)
    # The face is whole, with a margin of the photo around it (here grey) on every side.
    for thumb, colour in ((first, RED), (second, BLUE)):
        assert all(colour_near(thumb[y, x], GREY) for y, x in ((2, 2), (2, 93), (93, 2), (93, 93)))
        face = np.array([[colour_near(thumb[y, x], colour) for x in range(96)] for y in range(96)])
        rows, cols = np.nonzero(face)
        assert rows.min() > 2 and rows.max() < 93 and cols.min() > 2 and cols.max() < 93


def test_a_face_at_the_photos_edge_stays_whole_in_a_full_square(make_reading):
    corner = (350, 240, 50, 60)  # touches the right and bottom edges
    image = painted((400, 300), [(corner, GREEN)])
    (thumb,) = face_thumbnails(analysis_of(image, [corner], (400, 300), make_reading), side=64)
    pixels = decoded(thumb)
    assert pixels.shape == (64, 64, 3)
    # Moved inside the photo rather than cut: the face fills the square's lower right, grey above and left of it.
    assert colour_near(pixels[60, 60], GREEN) and colour_near(pixels[3, 3], GREY)


def test_a_photo_analysed_on_a_shrunk_copy_is_cut_where_its_boxes_point(make_reading):
    red = (400, 300, 200, 200)  # in pixels of the 1600×1200 photo
    small = painted((800, 600), [((200, 150, 100, 100), RED)])  # the copy analysed, half the size
    (thumb,) = face_thumbnails(analysis_of(small, [red], (1600, 1200), make_reading), side=80)
    pixels = decoded(thumb)
    assert colour_near(pixels[40, 40], RED) and colour_near(pixels[2, 2], GREY)


def test_a_reading_without_a_box_gets_the_whole_photo_and_no_faces_none(make_reading):
    image = painted((300, 200), [((0, 0, 150, 200), BLUE)])
    (thumb,) = face_thumbnails(analysis_of(image, [None], (300, 200), make_reading), side=64)
    pixels = decoded(thumb)
    assert colour_near(pixels[32, 8], BLUE) and colour_near(pixels[32, 56], GREY)
    assert face_thumbnails(analysis_of(image, [], (300, 200), make_reading)) == []
