"""Compose a classroom-sized test photo from the faces in ../shared/data/photos.

The result is a COMPOSITE, not a real group photo: head-and-shoulders tiles cut from the nine sample
photos (github.com/ageitgey/face_recognition examples, MIT), at several scales and some mirrored, laid
out in a grid on a neutral grey background (30 faces: 6×5 tiles, 1920×1280). Use it to test that
detection and cropping cope with many faces per photo; say it is a composite wherever it is shown.

    nice -n 19 python scripts/make_group_photo.py OUT.jpg [--faces 30] [--seed 0] [--photos DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

from vadcore.detect import FaceDetector
from vadcore.images import load_image
from vadcore.settings import get_settings

DEFAULT_PHOTOS = get_settings().data_dir / "photos"
CELL = (320, 256)  # width, height of one grid cell; 6×5 cells make 1920×1280
BACKGROUND = (190, 190, 185)
TILE_CONTEXT = 1.8  # tile side / face box side: the head with some hair, neck and background


def compose_group_photo(n_faces: int, seed: int = 0, photos: Path = DEFAULT_PHOTOS) -> np.ndarray:
    """An RGB uint8 composite with `n_faces` face tiles taken from the photos in `photos`."""
    rng = np.random.default_rng(seed)
    tiles = _face_tiles(photos)
    columns = math.ceil(math.sqrt(n_faces * 1.2))  # about 6 columns per 5 rows: a 3:2 canvas
    rows = math.ceil(n_faces / columns)
    canvas = Image.new("RGB", (columns * CELL[0], rows * CELL[1]), BACKGROUND)
    for index in range(n_faces):
        tile = tiles[rng.integers(len(tiles))]
        side = int(CELL[1] * rng.uniform(0.55, 0.95))  # faces of roughly 80-135 px
        tile = tile.resize((side, side), Image.BILINEAR)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        column, row = index % columns, index // columns
        x = column * CELL[0] + int(rng.integers(0, CELL[0] - side + 1))
        y = row * CELL[1] + int(rng.integers(0, CELL[1] - side + 1))
        canvas.paste(tile, (x, y))
    return np.asarray(canvas)


def _face_tiles(photos: Path) -> list[Image.Image]:
    """A square head tile around every face the detector finds in the sample photos."""
    detector = FaceDetector()
    tiles = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}):
        image = load_image(path)
        for face in detector.detect(image):
            tiles.append(Image.fromarray(_square(image, face.box)))
    if not tiles:
        raise FileNotFoundError(f"no faces found in photos under {photos}")
    return tiles


def _square(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    side = round(TILE_CONTEXT * max(w, h))
    left, top = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    rows, cols = image.shape[:2]
    inside = image[max(0, top) : min(rows, top + side), max(0, left) : min(cols, left + side)]
    padding = ((max(0, -top), max(0, top + side - rows)), (max(0, -left), max(0, left + side - cols)), (0, 0))
    return np.pad(inside, padding, mode="edge")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the JPEG")
    parser.add_argument("--faces", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    args = parser.parse_args()
    photo = compose_group_photo(args.faces, args.seed, args.photos)
    Image.fromarray(photo).save(args.out, quality=90)
    found = FaceDetector().detect(load_image(args.out))
    print(f"wrote {args.out} ({photo.shape[1]}×{photo.shape[0]}, {args.faces} faces); detector finds {len(found)}")


if __name__ == "__main__":
    main()
