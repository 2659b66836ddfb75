"""Accuracy under controlled image shifts, on test faces the model has never seen in any form.

Each shift turns (N, 48, 48) uint8 faces into changed uint8 faces; every model reads the same changed faces with
a single centre crop, so two models are compared face by face (paired bootstrap and McNemar's test). The faces
are FER2013 PrivateTest without the exact and near duplicates of Training faces (`vadcore.dedup`).

Geometric shifts sample outside the face by reflection: a face turned or shrunk inside a real photo has more photo
around it, not black corners, and black corners would test the corners rather than the face.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import decode_jpeg, encode_jpeg
from torchvision.transforms.functional import gaussian_blur

from vadcore.data import FaceTable, fer_csv_path, load_fer2013_cached
from vadcore.dedup import DEFAULT_THRESHOLD, training_duplicates
from vadcore.inference import predict_arrays
from vadcore.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_accuracy, paired_comparison
from vadcore.model import VADNet
from vadcore.taxonomy import FACE_SIZE

SPLIT = "PrivateTest"
VIEW = "single centre crop"
# Rows of a 48-px FER2013 face: the mean PrivateTest face is darkest at rows 16–18 (eyes) and 36–40 (mouth).
EYE_ROWS = (12, 24)
MOUTH_ROWS = (32, 48)  # the lower third
LOW_LIGHT_GAIN = 0.35
LOW_LIGHT_NOISE = 4.0  # grey levels (0…255), sensor noise that a dark exposure brings out

logger = logging.getLogger(__name__)


def _float(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(faces)).float().unsqueeze(1)


def _uint8(x: torch.Tensor) -> np.ndarray:
    return x.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


def _affine(faces: np.ndarray, degrees: float = 0.0, zoom: float = 1.0) -> np.ndarray:
    """Rotate counter-clockwise by `degrees` and magnify by `zoom` about the centre (zoom < 1 shrinks the face)."""
    x = _float(faces)
    a = np.deg2rad(degrees)
    # affine_grid maps output to input coordinates: the inverse rotation, divided by the zoom
    theta = torch.tensor([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]], dtype=torch.float32) / zoom
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return _uint8(F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False))


def _blur(faces: np.ndarray, sigma: float) -> np.ndarray:
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return _uint8(gaussian_blur(_float(faces), [size, size], [sigma, sigma]))


def _low_light(faces: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = faces.astype(np.float32) * LOW_LIGHT_GAIN + rng.normal(0.0, LOW_LIGHT_NOISE, faces.shape)
    return np.clip(np.round(dark), 0, 255).astype(np.uint8)


def _jpeg(faces: np.ndarray, quality: int) -> np.ndarray:
    if len(faces) == 0:
        return faces.copy()
    encoded = encode_jpeg(list(torch.from_numpy(np.ascontiguousarray(faces)).unsqueeze(1)), quality=quality)
    return torch.stack(decode_jpeg(encoded)).squeeze(1).numpy()


def _band(faces: np.ndarray, rows: tuple[int, int]) -> np.ndarray:
    out = faces.copy()
    out[:, rows[0] : rows[1]] = 0
    return out


def _downscale(faces: np.ndarray, size: int) -> np.ndarray:
    small = F.interpolate(_float(faces), size=(size, size), mode="area")
    return _uint8(F.interpolate(small, size=(FACE_SIZE, FACE_SIZE), mode="bilinear", align_corners=False))


@dataclass(frozen=True)
class Shift:
    name: str
    description: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]


SHIFTS = (
    Shift("none", "the faces as they are", lambda f, rng: f.copy()),
    Shift("rotate +20°", "turned 20° counter-clockwise", lambda f, rng: _affine(f, degrees=20)),
    Shift("rotate −20°", "turned 20° clockwise", lambda f, rng: _affine(f, degrees=-20)),
    Shift(
        "zoom in 1.2×",
        "magnified 1.2× about the centre (the face's edges cut off)",
        lambda f, rng: _affine(f, zoom=1.2),
    ),
    Shift("zoom out 0.8×", "shrunk to 0.8× about the centre", lambda f, rng: _affine(f, zoom=0.8)),
    Shift("blur σ 1.5", "Gaussian blur, σ 1.5 px", lambda f, rng: _blur(f, 1.5)),
    Shift(
        "low light",
        f"brightness ×{LOW_LIGHT_GAIN:g} plus Gaussian noise σ {LOW_LIGHT_NOISE:g} grey levels",
        _low_light,
    ),
    Shift("JPEG q20", "JPEG-compressed at quality 20", lambda f, rng: _jpeg(f, 20)),
    Shift(
        "mouth hidden",
        f"rows {MOUTH_ROWS[0]}–{MOUTH_ROWS[1] - 1} (the lower third) black",
        lambda f, rng: _band(f, MOUTH_ROWS),
    ),
    Shift("eyes hidden", f"rows {EYE_ROWS[0]}–{EYE_ROWS[1] - 1} black", lambda f, rng: _band(f, EYE_ROWS)),
    Shift("24 px", "downscaled to 24 px (area) and back to 48 (bilinear)", lambda f, rng: _downscale(f, 24)),
)
SHIFT_NAMES = tuple(s.name for s in SHIFTS)


def shifted_faces(faces: np.ndarray, *, seed: int = BOOTSTRAP_SEED) -> dict[str, np.ndarray]:
    """Every shift of `faces`, by name; the noise of each shift is drawn from its own seeded generator."""
    return {s.name: s.apply(faces, np.random.default_rng([seed, i])) for i, s in enumerate(SHIFTS)}


@dataclass(frozen=True)
class BenchFaces:
    table: FaceTable
    rule: str
    counts: dict[str, int]  # the split's faces, exact and near duplicates, kept, and used (after a limit)


def load_bench_faces(data_dir: Path, limit: int | None = None, threshold: float = DEFAULT_THRESHOLD) -> BenchFaces:
    """PrivateTest without duplicates of Training faces; with `limit`, its first `limit` such faces."""
    fer = load_fer2013_cached(fer_csv_path(data_dir))
    duplicates = training_duplicates(fer, SPLIT, threshold)
    table = fer.split(SPLIT).subset(duplicates.keep)
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        table = table.subset(np.arange(min(limit, len(table))))
    return BenchFaces(table, duplicates.rule, {**duplicates.counts, "used": len(table)})


def run_bench(
    models: dict[str, VADNet],
    faces: BenchFaces,
    *,
    seed: int = BOOTSTRAP_SEED,
    resamples: int = BOOTSTRAP_RESAMPLES,
    device: torch.device | None = None,
) -> dict:
    """Accuracy of each model under each shift with its 95% bootstrap interval; with several models, each later
    model against the first (the baseline) on the same faces: the paired difference and McNemar's test."""
    if not models:
        raise ValueError("run_bench needs at least one model")
    labels = faces.table.labels
    correct: dict[str, dict[str, np.ndarray]] = {name: {} for name in models}
    for shift, pixels in shifted_faces(faces.table.pixels, seed=seed).items():
        for name, model in models.items():
            probs, _ = predict_arrays(model, pixels, device=device)
            correct[name][shift] = probs.argmax(1) == labels
        logger.info("shift %s read by %d model(s)", shift, len(models))
    names = list(models)
    return {
        "split": SPLIT,
        "rule": faces.rule,
        "counts": faces.counts,
        "view": VIEW,
        "seed": seed,
        "resamples": resamples,
        "shifts": {s.name: s.description for s in SHIFTS},
        "models": names,
        "accuracy": {
            name: {s: bootstrap_accuracy(c, resamples=resamples, seed=seed) for s, c in by_shift.items()}
            for name, by_shift in correct.items()
        },
        "paired": {
            name: {
                s: paired_comparison(correct[name][s], correct[names[0]][s], resamples=resamples, seed=seed)
                for s in SHIFT_NAMES
            }
            for name in names[1:]
        },
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown_table(report: dict) -> str:
    """The report as the model card's table: accuracy % (95% interval) and the change from no shift, per model;
    the paired difference against the first model (95% interval, McNemar mid-p) for each later one."""
    names = report["models"]
    baseline = names[0]
    header = ["shift"] + [f"`{n}`" for n in names] + [f"`{n}` − `{baseline}`" for n in names[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for shift in report["shifts"]:
        cells = [shift]
        for name in names:
            a = report["accuracy"][name][shift]
            drop = a["accuracy"] - report["accuracy"][name]["none"]["accuracy"]
            change = "" if shift == "none" else f"; {100 * drop:+.1f}"
            cells.append(f"{_pct(a['accuracy'])} ({_pct(a['low'])}–{_pct(a['high'])}){change}")
        for name in names[1:]:
            d = report["paired"][name][shift]
            cells.append(
                f"{100 * d['difference']:+.1f} ({100 * d['difference_low']:+.1f}…{100 * d['difference_high']:+.1f}), "
                f"p {d['mcnemar']['p_mid']:.2g}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    c = report["counts"]
    notes = [
        "",
        f"Accuracy in % on FER2013 {report['split']}, {report['view']}, n = {c['used']} faces: the {c['kept']} of "
        f"{c['n']} left after removing {c['exact']} exact and {c['near']} near duplicates of Training faces "
        f"({report['rule']}).",
        f"In brackets: 95% percentile-bootstrap interval over faces ({report['resamples']} resamples, seed "
        f"{report['seed']}); after the semicolon: the change from no shift, in points.",
    ]
    if len(names) > 1:
        notes.append(
            "Differences: paired (both models read the same changed faces; faces resampled together), in points, "
            "with McNemar's mid-p."
        )
    notes += ["", "Shifts: " + "; ".join(f"{name}: {text}" for name, text in report["shifts"].items()) + "."]
    return "\n".join(lines + notes) + "\n"
