"""Photos for the Analyse page: the one way it analyses a photo, what it keeps of each, and its limits.

The page keeps, per photo, its readings and a small labelled JPEG (`AnalysedPhoto`), never the decoded
pixels: a 12-megapixel photo is 36 MB decoded and about 0.2 MB as the preview. The upload's own bytes
stay in Streamlit's uploader until they are saved (the service keeps them where the group keeps photos).
What one user may hold at once is capped (`MAX_BATCH_PHOTOS`, `MAX_BATCH_MB`, `MAX_PHOTO_MB`), and the
page's state is dropped when the user opens another page (`ui.registry.PageSpec.held`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import ui
from vadcore.analysis import ANALYSIS_MAX_SIDE, PREVIEW_MAX_SIDE, analyse_photo, preview_jpeg
from vadcore.images import ACCEPTED_FORMATS, MAX_PIXELS, ImageError
from vadcore.readings import FaceReading

log = logging.getLogger(__name__)

MAX_PHOTO_MB = 50  # one file: a phone photo is 2-12 MB; a 40-megapixel PNG can reach 50-100 MB
MAX_BATCH_PHOTOS = 30  # photos analysed and shown at once: about a class, one photo each
MAX_BATCH_MB = 200  # their uploads together


@dataclass(frozen=True)
class AnalysedPhoto:
    """What the page keeps of one analysed photo: about 0.1-0.3 MB, whatever the photo's size."""

    checksum: str  # sha256 of the uploaded bytes
    readings: list[FaceReading]  # left to right; boxes in pixels of the photo itself
    preview: bytes  # the photo with every face boxed and labelled, JPEG, longer side ≤ PREVIEW_MAX_SIDE
    size: tuple[int, int]  # (width, height) of the upright photo
    seconds: float  # how long the analysis took

    @property
    def has_faces(self) -> bool:
        return bool(self.readings)


def analyse(data: bytes) -> AnalysedPhoto | str:
    """Analyse one upload with the app's model and detector; the message of a refusal instead of a result."""
    started = time.perf_counter()
    try:
        analysis = analyse_photo(data, ui.predictor(), ui.detector())
    except ImageError as exc:
        return str(exc)
    preview = preview_jpeg(analysis)
    # `analysis` (the decoded pixels and the face crops) goes out of scope here: only the small parts are kept.
    return AnalysedPhoto(analysis.checksum, analysis.readings, preview, analysis.size, time.perf_counter() - started)


def within_limits(inputs: Sequence[tuple[str, bytes, str]]) -> tuple[list[tuple[str, bytes, str]], list[str]]:
    """The uploads the page analyses (in order, within the caps) and, for each one left out, why."""
    kept: list[tuple[str, bytes, str]] = []
    refused: list[str] = []
    total = 0
    for name, data, source in inputs:
        size_mb = len(data) / 1e6
        if size_mb > MAX_PHOTO_MB:
            refused.append(f"{name}: {size_mb:.0f} MB, over the {MAX_PHOTO_MB} MB limit for one photo")
        elif len(kept) >= MAX_BATCH_PHOTOS:
            refused.append(f"{name}: over the limit of {MAX_BATCH_PHOTOS} photos at once")
        elif (total + len(data)) / 1e6 > MAX_BATCH_MB:
            refused.append(f"{name}: over the limit of {MAX_BATCH_MB} MB of photos at once")
        else:
            kept.append((name, data, source))
            total += len(data)
    if refused:
        log.info("analyse page: %d upload(s) over the limits left out", len(refused))
    return kept, refused


def limits_note() -> str:
    """The page's limits and formats, in a sentence."""
    names = {"WEBP": "WebP", "HEIF": "HEIC/HEIF"}
    formats = ", ".join(names.get(f, f) for f in ACCEPTED_FORMATS)
    return (
        f"Formats: {formats}. Up to {MAX_BATCH_PHOTOS} photos at once ({MAX_BATCH_MB} MB together), each up to "
        f"{MAX_PHOTO_MB} MB and {MAX_PIXELS / 1e6:.0f} megapixels; photos longer than {ANALYSIS_MAX_SIDE} pixels "
        "are analysed on a copy shrunk to that. Animations and multi-page files are refused. While you work here "
        f"the page keeps only the readings and a labelled copy of each photo ({PREVIEW_MAX_SIDE} pixels), and "
        "drops them when you open another page."
    )
