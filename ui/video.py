"""Videos for the pages: the one way the app analyses a video, and the tables and images its pages draw.

The settings of the engine live here, once, so that what a page says about the method is what was run.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

import ui
from vadcore.quality import describe
from vadcore.taxonomy import CLASS_NAMES
from vadcore.video import TrackSummary, VideoAnalysis, VideoFace, analyse_video

SAMPLE_FPS = 2.0
VIEWS = "mirror"  # the centre crop of each face and its mirror image
SMOOTHING = "none"
VIDEO_TYPES = ("mp4", "mov", "m4v", "webm", "mkv", "avi")
CURVE_COLUMNS = ["frame_time_s", "label", "confidence", "valence", "arousal", "dominance"]
SHEET_COLUMNS = 8  # thumbnails per row of the contact sheet


def analyse(data: bytes, name: str, progress: Callable[[float], None] | None = None) -> VideoAnalysis:
    """Every face of the video in `data`, read at SAMPLE_FPS from VIEWS; raises `VideoError`.

    The bytes are read from memory: nothing of the video is written anywhere."""
    return analyse_video(
        io.BytesIO(data),
        ui.predictor(),
        ui.detector(),
        sample_fps=SAMPLE_FPS,
        views=VIEWS,
        smoothing=SMOOTHING,
        progress=progress,
        name=name,
    )


def method_note(analysis: VideoAnalysis) -> str:
    """How the readings were made, in a sentence for the page."""
    smoothed = (
        "V, A and D were not smoothed: each point is one reading of one frame."
        if analysis.smoothing == "none"
        else f"V, A and D were smoothed along each track ({analysis.smoothing}); the class was not."
    )
    return (
        f"Readings are from a single crop of each face and its mirror image (photos get ten crops), "
        f"at {analysis.sample_fps:g} frames/s. {smoothed}"
    )


def summary(analysis: VideoAnalysis, seconds: float) -> str:
    """One line: what was read from how much video, and how long it took."""
    length = f"{analysis.duration_s:.1f} s of video" if analysis.duration_s else "the video"
    n_tracks = len(analysis.tracks)
    return (
        f"{len(analysis.faces)} faces read in {analysis.sampled_frames} sampled frames of {length}, "
        f"{n_tracks} track{'s' if n_tracks != 1 else ''} (people), in {seconds:.1f} s."
    )


def track_frame(analysis: VideoAnalysis, track_id: int) -> pd.DataFrame:
    """The readings of one track in time order: CURVE_COLUMNS, one row per sampled frame it was seen in."""
    faces = analysis.track_faces(track_id)
    return pd.DataFrame(
        {
            "frame_time_s": [f.time_s for f in faces],
            "label": [f.reading.label for f in faces],
            "confidence": [f.reading.confidence for f in faces],
            "valence": [f.reading.valence for f in faces],
            "arousal": [f.reading.arousal for f in faces],
            "dominance": [f.reading.dominance for f in faces],
        },
        columns=CURVE_COLUMNS,
    )


def track_quality_note(analysis: VideoAnalysis, track_id: int) -> str:
    """How many of a track's readings carry a quality warning, and why, in plain language ("" when none)."""
    faces = analysis.track_faces(track_id)
    reasons = Counter(flag for f in faces for flag in f.reading.quality_flags)
    flagged = sum(f.reading.is_flagged for f in faces)
    if not flagged:
        return ""
    why = "; ".join(f"{describe([flag])} ×{n}" for flag, n in reasons.most_common())
    return f"{flagged} of {len(faces)} readings have a quality warning: {why}."


def to_save(
    analysis: VideoAnalysis, assignments: Mapping[int, int | None], exclude_flagged: bool
) -> tuple[list[VideoFace], dict[int, int | None]]:
    """The faces to save (all, or those without a quality warning) and the assignments of the tracks they keep."""
    faces = [f for f in analysis.faces if not (exclude_flagged and f.reading.is_flagged)]
    tracks = {f.track_id for f in faces}
    return faces, {t: s for t, s in assignments.items() if t in tracks}


def video_sessions(readings: pd.DataFrame) -> list[int]:
    """Sessions (ids, oldest first) in which `readings` (from `Service.readings_frame`) hold video readings."""
    video = readings[readings["frame_time_s"].notna()]
    return [int(i) for i in video.sort_values("captured_at")["session_id"].unique()]


def session_curve(readings: pd.DataFrame, session_id: int) -> pd.DataFrame:
    """The video readings of one session as CURVE_COLUMNS, in video time order."""
    rows = readings[(readings["session_id"] == session_id) & readings["frame_time_s"].notna()]
    rows = rows.sort_values(["frame_time_s", "reading_id"])
    probabilities = rows[[f"p_{c}" for c in CLASS_NAMES]].to_numpy(dtype=float)
    confidence = probabilities[np.arange(len(rows)), [CLASS_NAMES.index(label) for label in rows["label"]]]
    return pd.DataFrame(
        {
            "frame_time_s": rows["frame_time_s"].astype(float).to_numpy(),
            "label": rows["label"].to_numpy(),
            "confidence": confidence,
            "valence": rows["valence"].to_numpy(),
            "arousal": rows["arousal"].to_numpy(),
            "dominance": rows["dominance"].to_numpy(),
        },
        columns=CURVE_COLUMNS,
    )


def contact_sheet_png(tracks: Sequence[TrackSummary]) -> bytes | None:
    """The track thumbnails side by side, each numbered with its track, as PNG; None without tracks."""
    if not tracks:
        return None
    size = tracks[0].thumbnail.shape[0]
    label = 14
    cols = min(len(tracks), SHEET_COLUMNS)
    rows = -(-len(tracks) // cols)
    sheet = Image.new("RGB", (cols * size, rows * (size + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, track in enumerate(tracks):
        x, y = (k % cols) * size, (k // cols) * (size + label)
        sheet.paste(Image.fromarray(np.ascontiguousarray(track.thumbnail, dtype=np.uint8)), (x, y))
        draw.text((x + 3, y + size + 1), f"track {track.track_id}", fill="black")
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue()
