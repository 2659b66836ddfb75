"""Compose a classroom-like test VIDEO from the faces in the sample photos, with every face's true position.

The result is a COMPOSITE, not a real recording: head tiles cut from the nine sample photos
(github.com/ageitgey/face_recognition examples, MIT; the same tiles as scripts/make_group_photo.py) seated
in a 5×4 grid on a grey background, each swaying slowly; two of them walk across the room in opposite
directions and cross paths in the middle of the clip, the one in front hiding part of the other. Use it
to test tracking and to benchmark the video path; say it is a composite wherever it is used.

    nice -n 19 python scripts/make_classroom_clip.py OUT.mp4 [--seconds 60] [--fps 25] [--faces 20]

Writes OUT.mp4 (H.264) and OUT.json: for every frame, each face's id and tile box (x, y, side); the
face sits in the middle of its tile.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from make_group_photo import DEFAULT_PHOTOS, _face_tiles
from PIL import Image

SIZE = (1280, 720)
BACKGROUND = (190, 190, 185)
GRID = (5, 4)  # seats: columns × rows
CROSSING = (0, 1)  # the faces (ids) that cross paths: seats 0 and 1 of the top row walk past each other
CROSSING_SECONDS = 4.0  # how long the walk takes; centred on the middle of the clip


@dataclass(frozen=True)
class ClipTruth:
    fps: float
    size: tuple[int, int]
    frames: list[list[tuple[int, int, int, int]]]  # per frame: (face id, x, y, side) of each tile

    def to_json(self) -> str:
        return json.dumps({"fps": self.fps, "size": self.size, "frames": self.frames})


@dataclass(frozen=True)
class _Seat:
    face_id: int
    tile: Image.Image
    side: int
    home: tuple[int, int]  # top-left corner of the tile at rest
    sway: tuple[float, float, float, float]  # x and y amplitude (px), period (s), phase


def compose_classroom_clip(
    out: Path,
    seconds: float = 60.0,
    fps: int = 25,
    n_faces: int = 20,
    seed: int = 0,
    photos: Path = DEFAULT_PHOTOS,
) -> ClipTruth:
    """Write the composite clip to `out` (H.264 MP4) and return where every face was in every frame."""
    if not 2 <= n_faces <= GRID[0] * GRID[1]:
        raise ValueError(f"n_faces must be 2…{GRID[0] * GRID[1]}")
    rng = np.random.default_rng(seed)
    tiles = _face_tiles(photos)
    cell_w, cell_h = SIZE[0] // GRID[0], SIZE[1] // GRID[1]
    faces: list[_Seat] = []
    for face_id in range(n_faces):
        side = int(cell_h * rng.uniform(0.6, 0.8))
        tile = tiles[face_id % len(tiles)].resize((side, side), Image.Resampling.BILINEAR)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        column, row = face_id % GRID[0], face_id // GRID[0]
        home = (column * cell_w + (cell_w - side) // 2, row * cell_h + (cell_h - side) // 2)
        sway = (rng.uniform(10, 20), rng.uniform(4, 8), rng.uniform(6, 12), rng.uniform(0, 2 * math.pi))
        faces.append(_Seat(face_id, tile, side, home, sway))

    n_frames = round(seconds * fps)
    truth: list[list[tuple[int, int, int, int]]] = []
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for index in range(n_frames):
            t = index / fps
            canvas = Image.new("RGB", SIZE, BACKGROUND)
            placed = []
            for seat in faces:
                x, y = _position(seat.face_id, seat.home, seat.sway, t, seconds, cell_w)
                placed.append((seat.face_id, x, y, seat.side))
            # The walker going left is drawn last: it passes in front of the other.
            for face_id, x, y, _ in sorted(placed, key=lambda p: p[0] == CROSSING[1]):
                canvas.paste(faces[face_id].tile, (x, y))
            truth.append(placed)
            frame = av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return ClipTruth(float(fps), SIZE, truth)


def _position(
    face_id: int, home: tuple[int, int], sway: tuple[float, float, float, float], t: float, seconds: float, cell_w: int
) -> tuple[int, int]:
    amp_x, amp_y, period, phase = sway
    x = home[0] + amp_x * math.sin(2 * math.pi * t / period + phase)
    y = home[1] + amp_y * math.sin(2 * math.pi * t / (period * 1.3) + phase)
    if face_id in CROSSING:
        # Walk one seat over, in opposite directions, during CROSSING_SECONDS around the middle; the
        # walker going left walks a little lower, so the two overlap without one hiding the other entirely.
        start = seconds / 2 - CROSSING_SECONDS / 2
        progress = min(max((t - start) / CROSSING_SECONDS, 0.0), 1.0)
        x += (cell_w if face_id == CROSSING[0] else -cell_w) * progress
        if face_id == CROSSING[1]:
            y += 40 * math.sin(math.pi * progress)
    return round(x), round(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the MP4 (the truth goes beside it as .json)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--faces", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    args = parser.parse_args()
    truth = compose_classroom_clip(args.out, args.seconds, args.fps, args.faces, args.seed, args.photos)
    args.out.with_suffix(".json").write_text(truth.to_json())
    print(f"wrote {args.out} ({SIZE[0]}×{SIZE[1]}, {args.seconds:g} s at {args.fps} fps, {args.faces} faces)")


if __name__ == "__main__":
    main()
