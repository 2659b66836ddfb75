"""Photos for the Analyse page: the one way it analyses a photo, what it keeps of each, and its limits.

The page keeps, per photo, its readings, a small labelled JPEG and a thumbnail of each face (`AnalysedPhoto`),
never the decoded pixels: a 12-megapixel photo is 36 MB decoded and about 0.2 MB as the preview. The upload's
own bytes stay in Streamlit's uploader until they are saved (the service keeps them where the group keeps photos).
What one user may hold at once is capped (`MAX_BATCH_PHOTOS`, `MAX_BATCH_MB`, `MAX_PHOTO_MB`); the readings and
previews stay, across pages, until they are saved or discarded or the user logs out (`ui/unsaved.py`).

A batch is told apart by the photos' bytes (`distinct`): the same bytes under one name or several are one
`Upload`, and the page keys every widget by its checksum. Also here: the readings table's plain-language
consistency note and quality verdict, which readings are saved when flagged ones are left out, and which session
is today's in the user's time zone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

import ui
from db.views import SessionInfo
from vadcore.analysis import ANALYSIS_MAX_SIDE, PREVIEW_MAX_SIDE, analyse_photo, face_thumbnails, preview_jpeg
from vadcore.images import ACCEPTED_FORMATS, MAX_PIXELS, ImageError, image_checksum
from vadcore.quality import describe
from vadcore.readings import FaceReading

log = logging.getLogger(__name__)

MAX_PHOTO_MB = 50  # one file: a phone photo is 2-12 MB (a 48 MP JPEG 10-25 MB); a 64 MP PNG can reach 100 MB
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
    thumbnails: tuple[bytes, ...] = ()  # face N's square JPEG (unlabelled, 2-5 kB) at N-1: the assignment grid

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
    preview, thumbnails = preview_jpeg(analysis), tuple(face_thumbnails(analysis))
    # `analysis` (the decoded pixels and the face crops) goes out of scope here: only the small parts are kept.
    seconds = time.perf_counter() - started
    return AnalysedPhoto(analysis.checksum, analysis.readings, preview, analysis.size, seconds, thumbnails)


@dataclass(frozen=True)
class Upload:
    """One distinct photo of a batch: its bytes once, and every name it was added under (the same file
    twice, or the same bytes under two names, is one photo: analysed, shown and saved once)."""

    checksum: str  # sha256 of the bytes: what the page keys its widgets and its analyses by
    data: bytes
    source: str  # "upload" or "camera", of its first copy
    names: tuple[str, ...]  # as added, first first; a name twice when the same file was added twice

    @property
    def name(self) -> str:
        return self.names[0]


def distinct(inputs: Sequence[tuple[str, bytes, str]]) -> list[Upload]:
    """The batch `(name, bytes, source)` with each distinct photo (by its bytes' SHA-256) once, in the order
    first seen, carrying every name it came under."""
    first: dict[str, Upload] = {}
    for name, data, source in inputs:
        checksum = image_checksum(data)
        seen = first.get(checksum)
        first[checksum] = (
            Upload(checksum, data, source, (name,)) if seen is None else replace(seen, names=(*seen.names, name))
        )
    return list(first.values())


def duplicate_note(upload: Upload) -> str:
    """Plain text (the names are as typed, never Markdown) saying that a photo came more than once."""
    others = upload.names[1:]
    if not others:
        return ""
    return (
        f"This photo was added {len(upload.names)} times: {upload.name} is the same file (the same bytes) as "
        f"{', '.join(others)}. It counts as one photo: analysed, shown and saved once."
    )


def within_limits(uploads: Sequence[Upload]) -> tuple[list[Upload], list[str]]:
    """The photos the page analyses (in order, within the caps) and, for each one left out, why."""
    kept: list[Upload] = []
    refused: list[str] = []
    total = 0
    for upload in uploads:
        name, size_mb = upload.name, len(upload.data) / 1e6
        if size_mb > MAX_PHOTO_MB:
            refused.append(f"{name}: {size_mb:.0f} MB, over the {MAX_PHOTO_MB} MB limit for one photo")
        elif len(kept) >= MAX_BATCH_PHOTOS:
            refused.append(f"{name}: over the limit of {MAX_BATCH_PHOTOS} photos at once")
        elif (total + len(upload.data)) / 1e6 > MAX_BATCH_MB:
            refused.append(f"{name}: over the limit of {MAX_BATCH_MB} MB of photos at once")
        else:
            kept.append(upload)
            total += len(upload.data)
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
        f"the page keeps only the readings, a labelled copy of each photo ({PREVIEW_MAX_SIDE} pixels), a small "
        "picture of each face and the subjects you chose, until you save or discard them or log out."
    )


# The readings table's note on a reading whose V/A/D contradict its class, and the column's tooltip.
CONSISTENCY_HELP = (
    "Each class implies the direction of valence (V), arousal (A) and dominance (D): happy is pleasant (V > 0) "
    "and aroused (A > 0), sad is unpleasant (V < 0), neutral sits near 0 on all three. The model reads the "
    "class and V/A/D separately; when they point different ways, the two readings of this face disagree and "
    "neither is reliable. The note names the values that disagree; it is empty when they agree."
)
_DIM_NAMES = {"valence": "valence (V)", "arousal": "arousal (A)", "dominance": "dominance (D, experimental)"}


def consistency_note(reading: FaceReading) -> str:
    """A plain-language note for a reading whose V/A/D signs contradict its class; "" when they agree."""
    if reading.is_consistent:
        return ""
    which = ", ".join(_DIM_NAMES.get(d, d) for d in reading.consistency_violations)
    return f"the V/A/D values disagree with the class ({which}); treat this reading with care"


# ---------------------------------------------------------------- the quality verdict: shown, and left out of saving

QUALITY_HELP = (
    "Why this reading may not be trusted: the face is too small, blurred, turned away from the camera or cut off "
    "at the photo's edge, or the model is unsure of the class. Empty when nothing stands out."
)
EXCLUDE_FLAGGED_LABEL = "Leave out readings with a quality warning when saving"
EXCLUDE_FLAGGED_HELP = (
    "On (the default), faces whose reading has a quality warning are not saved, so they never enter means, "
    "timelines or alerts. Turn it off to save them too; they keep their warning, and features still skip them."
)


def quality_note(reading: FaceReading) -> str:
    """The reading's quality verdict in plain language ("" when nothing stands out)."""
    return describe(reading.quality_flags)


def to_save(
    readings: Sequence[FaceReading], assignment: Sequence[int | None], exclude_flagged: bool
) -> tuple[list[FaceReading], list[int | None]]:
    """The readings (and their subjects) to save: all of them, or without the flagged ones."""
    kept = [(r, a) for r, a in zip(readings, assignment, strict=True) if not (exclude_flagged and r.is_flagged)]
    return [r for r, _ in kept], [a for _, a in kept]


def left_out_note(readings: Sequence[FaceReading], exclude_flagged: bool) -> str:
    """A sentence on the faces that will not be saved for their quality warning ("" when none)."""
    flagged = [i for i, r in enumerate(readings, 1) if r.is_flagged]
    if not (exclude_flagged and flagged):
        return ""
    faces = ", ".join(map(str, flagged))
    everything = " (all of them: nothing from this photo will be saved)" if len(flagged) == len(readings) else ""
    return f"Face{'s' if len(flagged) != 1 else ''} {faces} will be left out when saving: quality warning{everything}."


# ---------------------------------------------------------------- which session is today's (ui.local_time: the zone)


def todays_session(sessions: Sequence[SessionInfo], zone: tzinfo, now: datetime | None = None) -> int | None:
    """The id of the latest session started today (in `zone`), or None when none started today: yesterday's
    session is never the default, so next-day photos do not go into it unnoticed."""
    today = (now or datetime.now(zone)).astimezone(zone).date()
    started_today = [s for s in sessions if s.started_at.astimezone(zone).date() == today]
    return max(started_today, key=lambda s: (s.started_at, s.id)).id if started_today else None
