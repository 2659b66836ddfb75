"""Which test faces are copies of Training faces, so accuracy can also be stated on faces never seen.

FER2013's test splits hold pixel-identical copies of Training faces (288 in PrivateTest) and the same photos
recropped, rescaled or watermarked. Two faces are near duplicates when their z-normalised 24×24 thumbnails
(48→24 by 2×2 averaging, then minus the face's mean and divided by its standard deviation) have cosine
similarity ≥ the threshold — that is, Pearson r between the thumbnails, insensitive to brightness and contrast.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vadcore.data import CACHE_DIR, FaceTable, pixel_key

DEFAULT_THRESHOLD = 0.95
# Test rows per matrix product: 512 × 28.7k similarities in float32 is 59 MB.
_CHUNK = 512
_CACHE_VERSION = 1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DuplicateReport:
    """Masks over the rows of `fer.split(split)`: `exact` twins of a Training face, and `near` ones (not exact)."""

    split: str
    threshold: float
    exact: np.ndarray  # (N,) bool
    near: np.ndarray  # (N,) bool
    similarity: np.ndarray  # (N,) float32: highest thumbnail cosine with any Training face

    @property
    def keep(self) -> np.ndarray:
        return ~(self.exact | self.near)

    @property
    def rule(self) -> str:
        return (
            f"{self.split} faces left out: pixel-identical to a Training face, or cosine ≥ {self.threshold:g} "
            "between z-normalised 24×24 thumbnails and some Training face"
        )

    @property
    def counts(self) -> dict[str, int]:
        return {
            "n": int(len(self.exact)),
            "exact": int(self.exact.sum()),
            "near": int(self.near.sum()),
            "kept": int(self.keep.sum()),
        }


def thumbnails(pixels: np.ndarray) -> torch.Tensor:
    """(N, 48, 48) uint8 → (N, 576) float32 unit vectors of the z-normalised 24×24 thumbnails.

    A flat face (standard deviation 0) becomes the zero vector: similar to nothing (its exact copies are still
    found by their pixels)."""
    n, h, w = pixels.shape
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().view(n, h // 2, 2, w // 2, 2).mean((2, 4))
    x = x.reshape(n, -1)
    x = x - x.mean(1, keepdim=True)
    norm = x.norm(dim=1, keepdim=True)
    # dividing by the norm = dividing by the std and by √576: the cosine of z-scores is their dot product / 576
    return torch.where(norm > 0, x / norm.clamp_min(1e-12), torch.zeros_like(x))


def max_similarity(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """For each query face, the highest thumbnail cosine with any reference face (−1 when there are none)."""
    if len(references) == 0:
        return np.full(len(queries), -1.0, np.float32)
    ref = thumbnails(references)
    best = []
    with torch.inference_mode():
        for i in range(0, len(queries), _CHUNK):
            best.append((thumbnails(queries[i : i + _CHUNK]) @ ref.T).max(1).values)
    return torch.cat(best).numpy() if best else np.zeros(0, np.float32)


def _cache_file(cache_dir: Path, split: str, training: np.ndarray, tested: np.ndarray) -> Path:
    # keyed by the pixels themselves: any change to either split, its order or the code's version is a new file
    h = hashlib.sha256(f"dedup-v{_CACHE_VERSION}".encode())
    for a in (training, tested):
        h.update(np.ascontiguousarray(a).tobytes())
    return cache_dir / f"dedup.{split}.{h.hexdigest()[:16]}.npz"


def training_duplicates(
    fer: FaceTable, split: str, threshold: float = DEFAULT_THRESHOLD, *, cache_dir: Path | None = CACHE_DIR
) -> DuplicateReport:
    """Exact and near duplicates of Training faces among `fer.split(split)`'s rows (see the module docstring).

    The highest similarities are cached under `cache_dir` (None: not cached); the threshold applies after."""
    if split == "Training":
        raise ValueError("training_duplicates compares a test split with Training; split must not be Training")
    training = fer.split("Training").pixels
    tested = fer.split(split).pixels
    seen = {pixel_key(p) for p in training}
    exact = np.fromiter((pixel_key(p) in seen for p in tested), dtype=bool, count=len(tested))
    cache = _cache_file(cache_dir, split, training, tested) if cache_dir is not None else None
    if cache is not None and cache.exists():
        similarity = np.load(cache, allow_pickle=False)["similarity"]
    else:
        similarity = max_similarity(tested, training)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(tmp, similarity=similarity)
            tmp.replace(cache)
    near = ~exact & (similarity >= threshold)
    report = DuplicateReport(split, float(threshold), exact, near, similarity)
    logger.info("%s duplicates of Training: %s", split, report.counts)
    return report
