"""Any file a user hands over (photo or video) → table rows, one per face per frame.

`analyse_file` picks the photo or the video path (`vadcore.analysis.analyse_photo`,
`vadcore.video.analyse_video`, the same calls the app makes) by the file's suffix, and for an unknown
suffix tries the photo reader, then the video reader. A file neither can read raises `MediaError` with a
message a user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vadcore.analysis import analyse_photo
from vadcore.detect import FaceDetector
from vadcore.images import ImageError
from vadcore.inference import EmotionPredictor
from vadcore.quality import describe
from vadcore.readings import FaceReading
from vadcore.taxonomy import CLASS_NAMES
from vadcore.video import DEFAULT_SAMPLE_FPS, VideoError, analyse_video

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"})

ROW_COLUMNS = (
    "file",
    "kind",
    "time_s",
    "frame_index",
    "track_id",
    "face_index",
    "box_x",
    "box_y",
    "box_w",
    "box_h",
    "detection_score",
    "label",
    "confidence",
    *(f"p_{name}" for name in CLASS_NAMES),
    "valence",
    "arousal",
    "dominance",
    "consistency_violations",
    "quality_flags",
    "quality",
    "model_version",
)


class MediaError(ValueError):
    """A file that is neither a photo nor a video this tool can read; the message says why."""


@dataclass
class FileResult:
    name: str
    kind: str  # "photo" or "video"
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def reading_row(reading: FaceReading, **context: Any) -> dict[str, Any]:
    """One table row: `context` (file, kind, time, frame, track, face index) and the reading."""
    x, y, w, h = reading.box if reading.box is not None else (None, None, None, None)
    row = {**context, "box_x": x, "box_y": y, "box_w": w, "box_h": h}
    row.update(
        detection_score=reading.detection_score,
        label=reading.label,
        confidence=reading.confidence,
        **{f"p_{name}": reading.probabilities[name] for name in CLASS_NAMES},
        valence=reading.valence,
        arousal=reading.arousal,
        dominance=reading.dominance,
        consistency_violations=",".join(reading.consistency_violations),
        quality_flags=",".join(reading.quality_flags),
        quality=describe(reading.quality_flags),
        model_version=reading.model_version,
    )
    return {column: row.get(column) for column in ROW_COLUMNS}


def analyse_file(
    path: Path,
    predictor: EmotionPredictor,
    detector: FaceDetector,
    *,
    name: str | None = None,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    smoothing: str = "none",
) -> FileResult:
    """Rows for every face of a photo (time 0, one frame) or of a video's sampled frames."""
    name = name or str(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return _video(path, name, predictor, detector, sample_fps, smoothing)
    try:
        return _photo(path, name, predictor, detector)
    except ImageError as photo_error:
        if suffix in PHOTO_SUFFIXES:
            raise MediaError(str(photo_error)) from photo_error
        try:
            return _video(path, name, predictor, detector, sample_fps, smoothing)
        except MediaError:
            raise MediaError("neither a photo nor a video this tool can read") from photo_error


def _photo(path: Path, name: str, predictor: EmotionPredictor, detector: FaceDetector) -> FileResult:
    analysis = analyse_photo(path, predictor, detector)
    result = FileResult(name, "photo")
    for index, reading in enumerate(analysis.readings):
        context = dict(file=name, kind="photo", time_s=0.0, frame_index=0, track_id=index + 1, face_index=index)
        result.rows.append(reading_row(reading, **context))
    result.summary = {"faces": len(analysis.readings), "checksum": analysis.checksum}
    return result


def _video(
    path: Path, name: str, predictor: EmotionPredictor, detector: FaceDetector, sample_fps: float, smoothing: str
) -> FileResult:
    try:
        analysis = analyse_video(path, predictor, detector, sample_fps=sample_fps, smoothing=smoothing, name=name)
    except VideoError as exc:
        raise MediaError(str(exc)) from exc
    result = FileResult(name, "video")
    per_frame: dict[int, int] = {}
    for face in analysis.faces:
        index = per_frame.get(face.frame_index, 0)
        per_frame[face.frame_index] = index + 1
        context = dict(
            file=name,
            kind="video",
            time_s=face.time_s,
            frame_index=face.frame_index,
            track_id=face.track_id,
            face_index=index,
        )
        result.rows.append(reading_row(face.reading, **context))
    result.summary = {
        "faces": len(analysis.faces),
        "tracks": len(analysis.tracks),
        "sampled_frames": analysis.sampled_frames,
        "sample_fps": analysis.sample_fps,
        "duration_s": analysis.duration_s,
        "smoothing": analysis.smoothing,
        "stopped_early": analysis.stopped_early,
        "stage_seconds": {k: round(v, 3) for k, v in analysis.stage_seconds.items()},
    }
    return result
