"""Where the face labels of an annotated photo go, so that no two labels overlap and each stays in the photo.

Pure geometry: boxes are (left, top, right, bottom) in pixels, right and bottom exclusive."""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]  # left, top, right, bottom
GAP = 2  # pixels between a label and its face box
SCAN_STEP = 4  # pixels between the positions tried when nothing near the face is free


def layout_labels(
    face_boxes: list[tuple[int, int, int, int]],
    label_sizes: list[tuple[int, int]],
    image_size: tuple[int, int],
    taken: list[Box] | None = None,
) -> list[Box | None]:
    """A box for each label (face boxes as x, y, w, h; label sizes as width, height; image as width, height).

    Labels are placed in order, each at the first free position among: above its face, below, inside its
    top, right, left, then stacked further above and below; failing those, at the free position nearest its
    face. A position is free when it lies in the image and overlaps no label already placed (nor a box in
    `taken`, labels placed by an earlier call); positions that also keep clear of every other face are
    preferred. None where no free position exists (the caller then tries a smaller label)."""
    width, height = image_size
    faces = [(x, y, x + w, y + h) for x, y, w, h in face_boxes]
    placed: list[Box] = list(taken or [])
    result: list[Box | None] = []
    for index, (face, (lw, lh)) in enumerate(zip(faces, label_sizes, strict=True)):
        others = faces[:index] + faces[index + 1 :]
        box = None
        if lw <= width and lh <= height:
            box = _near(face, lw, lh, image_size, placed, others) or _near(face, lw, lh, image_size, placed, [])
            box = box or _scan(face, lw, lh, image_size, placed)
        result.append(box)
        if box is not None:
            placed.append(box)
    return result


def overlaps(a: Box, b: Box) -> bool:
    """Whether two boxes share any pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _near(face: Box, lw: int, lh: int, size: tuple[int, int], placed: list[Box], avoid: list[Box]) -> Box | None:
    left, top, right, bottom = face
    tops = [top - GAP - lh, bottom + GAP, top + GAP]  # above, below, inside the top
    candidates = [(left, t) for t in tops]
    candidates += [(right + GAP, top), (left - GAP - lw, top)]  # right, left
    for k in range(1, 4):  # stacked further above and below
        candidates += [(left, top - GAP - (k + 1) * lh), (left, bottom + GAP + k * lh)]
    for x, y in candidates:
        x = min(max(0, x), size[0] - lw)  # slid sideways into the image rather than given up
        box = (x, y, x + lw, y + lh)
        if y >= 0 and y + lh <= size[1] and not any(overlaps(box, o) for o in placed + avoid):
            return box
    return None


def _scan(face: Box, lw: int, lh: int, size: tuple[int, int], placed: list[Box]) -> Box | None:
    """The free position nearest the face, on a grid of SCAN_STEP pixels over the whole image."""
    xs = np.arange(0, size[0] - lw + 1, SCAN_STEP)
    ys = np.arange(0, size[1] - lh + 1, SCAN_STEP)
    grid_x, grid_y = np.meshgrid(xs, ys)
    gx, gy = grid_x.ravel(), grid_y.ravel()
    free = np.ones(gx.shape, dtype=bool)
    for l0, t0, r0, b0 in placed:
        free &= ~((gx < r0) & (l0 < gx + lw) & (gy < b0) & (t0 < gy + lh))
    if not free.any():
        return None
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    distance = (gx + lw / 2 - cx) ** 2 + (gy + lh / 2 - cy) ** 2
    best = int(np.argmin(np.where(free, distance, np.inf)))
    return (int(gx[best]), int(gy[best]), int(gx[best]) + lw, int(gy[best]) + lh)
