"""Loaders for the face tables VAD Lens trains and evaluates on.

Every loader returns a `FaceTable`: 48×48 grey faces, FER2013 class ids, VAD targets on the model's
−1…+1 scale, and where each VAD target came from (human label or derived prior).
Formats: the Kaggle FER2013 CSV (plain or .gz), FER+ vote counts, the paper authors' VAD CSV, and an
image folder `<split>/<class>/*.{jpg,png}`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vadcore.settings import VAR_DIR
from vadcore.taxonomy import CLASS_NAMES, FACE_SIZE, HUMAN_VAD_SCALE, NUM_CLASSES

SPLITS = ("Training", "PublicTest", "PrivateTest")
N_PIXELS = FACE_SIZE * FACE_SIZE
# FER+ vote columns, in the file's own order, and the FER2013 class each maps to (contempt has none).
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
FERPLUS_TO_CLASS = {"neutral": 6, "happiness": 3, "surprise": 5, "sadness": 4, "anger": 0, "disgust": 1, "fear": 2}
# Parsed FER2013 arrays (load_fer2013_cached): the CSV parse is the slow part of every start of training.
CACHE_DIR = VAR_DIR / "cache"


class DataFormatError(ValueError):
    """A data file does not have the layout its loader expects."""


@dataclass
class FaceTable:
    pixels: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64 FER2013 class ids
    usage: np.ndarray  # (N,) split name per face
    fer_index: np.ndarray  # (N,) row in the original fer2013.csv, −1 when unknown
    vad: np.ndarray | None = None  # (N, 3) float32 on −1…+1, NaN where unknown
    vad_is_human: np.ndarray | None = None  # (N,) bool
    class_votes: np.ndarray | None = None  # (N, 7) FER+ vote shares over the 7 classes, when known

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> FaceTable:
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return FaceTable(
            self.pixels[mask],
            self.labels[mask],
            self.usage[mask],
            self.fer_index[mask],
            pick(self.vad),
            pick(self.vad_is_human),
            pick(self.class_votes),
        )

    def split(self, name: str) -> FaceTable:
        return self.subset(self.usage == name)


def _require_columns(df: pd.DataFrame, needed: tuple[str, ...], path: Path) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"{path.name}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}"
        )


def parse_pixels(strings: pd.Series, source: str) -> np.ndarray:
    """Space-separated grey levels → (N, 48, 48) uint8, refusing wrong lengths and values."""
    out = np.empty((len(strings), N_PIXELS), dtype=np.uint8)
    for i, s in enumerate(strings.to_numpy()):
        values = np.array(str(s).split(), dtype=np.float64) if isinstance(s, str) else np.empty(0)
        if values.size != N_PIXELS:
            raise DataFormatError(f"{source}: row {i} has {values.size} pixel values, expected {N_PIXELS}")
        if values.min() < 0 or values.max() > 255 or not np.all(values == np.round(values)):
            raise DataFormatError(f"{source}: row {i} has pixel values outside the integers 0…255")
        out[i] = values
    return out.reshape(-1, FACE_SIZE, FACE_SIZE)


def _check_labels(labels: np.ndarray, source: str) -> np.ndarray:
    bad = (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        raise DataFormatError(
            f"{source}: emotion must be 0…{NUM_CLASSES - 1}; row {int(np.argmax(bad))} has {labels[bad][0]}"
        )
    return labels.astype(np.int64)


def load_fer2013(path: str | Path) -> FaceTable:
    """The Kaggle FER2013 CSV (emotion, pixels, Usage[, index]), plain or gzip."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as e:
        raise DataFormatError(f"{path.name}: cannot be read as a CSV ({e})") from e
    _require_columns(df, ("emotion", "pixels", "Usage"), path)
    usage = df["Usage"].astype(str).to_numpy()
    unknown = sorted(set(usage) - set(SPLITS))
    if unknown:
        raise DataFormatError(f"{path.name}: unknown Usage value(s) {unknown}; expected {SPLITS}")
    labels = _check_labels(pd.to_numeric(df["emotion"], errors="coerce").fillna(-1).to_numpy(), path.name)
    fer_index = df["index"].to_numpy(np.int64) if "index" in df else np.arange(len(df), dtype=np.int64)
    return FaceTable(parse_pixels(df["pixels"], path.name), labels, usage, fer_index)


def load_ferplus_votes(path: str | Path) -> np.ndarray:
    """FER+ votes as (rows, 8) counts in FERPLUS_COLUMNS order; row i is original fer2013.csv row i.

    The published file is in fer2013.csv's row order; a file with an `index` column (a sample) is
    placed at those rows, other rows having no votes.
    """
    path = Path(path)
    df = pd.read_csv(path)
    _require_columns(df, FERPLUS_COLUMNS, path)
    votes = df[list(FERPLUS_COLUMNS)].to_numpy(np.float32)
    if np.isnan(votes).any() or (votes < 0).any():
        raise DataFormatError(f"{path.name}: vote counts must be numbers ≥ 0")
    if "index" in df:
        dense = np.zeros((int(df["index"].max()) + 1, len(FERPLUS_COLUMNS)), np.float32)
        dense[df["index"].to_numpy(np.int64)] = votes
        return dense
    return votes


def load_authors_vad_csv(path: str | Path, usage: str = "Training") -> FaceTable:
    """The paper authors' VAD CSV (index, emotionLabel, Valence, Arousal, Dominance, emotion, pixels).

    Its V, A, D are human labels on −2…+2; they are divided by 2 onto the model's scale.
    """
    path = Path(path)
    df = pd.read_csv(path)
    _require_columns(df, ("Valence", "Arousal", "Dominance", "emotion", "pixels"), path)
    vad = df[["Valence", "Arousal", "Dominance"]].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    if np.isnan(vad).any() or (np.abs(vad) > HUMAN_VAD_SCALE).any():
        raise DataFormatError(
            f"{path.name}: Valence/Arousal/Dominance must be numbers in −{HUMAN_VAD_SCALE:g}…+{HUMAN_VAD_SCALE:g}"
        )
    labels = _check_labels(pd.to_numeric(df["emotion"], errors="coerce").fillna(-1).to_numpy(), path.name)
    n = len(df)
    return FaceTable(
        parse_pixels(df["pixels"], path.name),
        labels,
        np.full(n, usage, dtype=object),
        np.full(n, -1, dtype=np.int64),
        vad / HUMAN_VAD_SCALE,
        np.ones(n, dtype=bool),
    )


def load_image_folder(root: str | Path) -> FaceTable:
    """Faces laid out as `<root>/<split>/<class name>/*.png|jpg` (any size; turned grey and 48×48)."""
    from PIL import Image

    root = Path(root)
    pixels, labels, usage = [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            name = class_dir.name.lower()
            if name not in CLASS_NAMES:
                raise DataFormatError(f"{class_dir}: folder name must be one of {CLASS_NAMES}")
            for f in sorted(class_dir.iterdir()):
                if f.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
                    continue
                with Image.open(f) as im:
                    pixels.append(np.asarray(im.convert("L").resize((FACE_SIZE, FACE_SIZE))))
                labels.append(CLASS_NAMES.index(name))
                usage.append(split_dir.name)
    if not pixels:
        raise DataFormatError(f"{root}: no images found in <split>/<class>/ folders")
    n = len(labels)
    return FaceTable(
        np.stack(pixels), np.array(labels, np.int64), np.array(usage, dtype=object), np.full(n, -1, dtype=np.int64)
    )


def file_sha256(*paths: str | Path) -> str:
    """One checksum over the given files, recorded in checkpoints so a model names its training data."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def pixel_key(pixels: np.ndarray) -> bytes:
    """Identity of a face by its pixels (the authors' CSV must be joined to FER2013 by pixels)."""
    return hashlib.sha1(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).digest()


def fer_csv_path(data: Path) -> Path:
    """FER2013's CSV under a data directory (`<data>/fer2013/fer2013.csv.gz`, or unpacked)."""
    for name in ("fer2013.csv.gz", "fer2013.csv"):
        if (data / "fer2013" / name).exists():
            return data / "fer2013" / name
    raise FileNotFoundError(f"no fer2013/fer2013.csv(.gz) under {data}")


def load_fer2013_cached(path: Path) -> FaceTable:
    """`load_fer2013`, with the parsed arrays kept in var/cache keyed by the file's checksum: parsing 35k pixel
    strings takes ~12–20 s, loading the arrays well under a second."""
    key = file_sha256(path)[:16]
    cache = CACHE_DIR / f"{path.name}.{key}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return FaceTable(z["pixels"], z["labels"], z["usage"].astype(object), z["fer_index"])
    table = load_fer2013(path)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, pixels=table.pixels, labels=table.labels, usage=table.usage.astype(str), fer_index=table.fer_index)
    tmp.replace(cache)
    return table
