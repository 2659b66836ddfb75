"""Videos → per-person VAD timelines: decode, sample, detect, track, read, optionally smooth.

    result = analyse_video("lesson.mp4", EmotionPredictor(), FaceDetector(), sample_fps=2.0)
    result.faces   # one VideoFace per face per sampled frame: time, track id, box, reading
    result.tracks  # one TrackSummary per person-track: first/last time, frames seen, a small thumbnail

Decoding is PyAV (its wheel carries FFmpeg; nothing is downloaded), streaming: frames are decoded,
sampled at `sample_fps` by their timestamps and dropped once read, so memory does not grow with the
video's length (only the readings, a few numbers per face, are kept). Faces are read in batches across
frames, by default from the centre crop and its mirror image (ten-crop costs 5× as much per face).

Tracking links each frame's faces to the tracks of earlier frames by intersection over union with the
track's predicted box (last box moved by its last velocity), solved as an assignment problem (scipy's
Hungarian `linear_sum_assignment`). A track survives `max_gap` sampled frames without a face (a turned
head, a missed detection); after that a face in the same place starts a new track.

A file that cannot be opened raises `VideoError` with a plain message. A file that breaks midway, or ends
well before the duration it declares, keeps what was read: the result says where and why (`stopped_early`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from scipy.optimize import linear_sum_assignment

from vadcore.detect import DetectedFace, FaceDetector, box_iou, crop_faces
from vadcore.inference import EmotionPredictor
from vadcore.quality import judge_all
from vadcore.readings import FaceReading

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
VideoSource = str | Path | BinaryIO

DEFAULT_SAMPLE_FPS = 2.0
# Faces are read in batches of about this many crops (across sampled frames): batching is what makes the
# network fast on a CPU, and the bound keeps memory flat.
READ_BATCH = 64
THUMBNAIL_SIZE = 96
SMOOTHING_METHODS = ("none", "ema")
STAGES = ("decode", "detect", "track", "crop", "read")


class VideoError(ValueError):
    """A video that cannot be read at all; the message says why in words a user understands."""


@dataclass(frozen=True)
class VideoFace:
    """One face in one sampled frame, with the track (person) it belongs to."""

    frame_index: int  # index among the sampled frames
    time_s: float  # seconds from the start of the video
    track_id: int
    reading: FaceReading  # box is in pixels of the frame


@dataclass(frozen=True)
class TrackSummary:
    track_id: int
    first_s: float
    last_s: float
    n_faces: int  # sampled frames in which the track's face was read
    thumbnail: np.ndarray  # THUMBNAIL_SIZE² RGB crop of the track's most confident detection


@dataclass
class VideoAnalysis:
    name: str
    duration_s: float | None  # from the container; None when it does not say
    width: int
    height: int
    sample_fps: float
    sampled_frames: int = 0
    faces: list[VideoFace] = field(default_factory=list)
    tracks: list[TrackSummary] = field(default_factory=list)
    smoothing: str = "none"  # how V/A/D were smoothed along each track ("none" or "ema(alpha=…)")
    stopped_early: str | None = None  # why reading stopped before the end, when it did
    # Wall seconds per stage: decode (incl. sampling and RGB conversion), detect, track, crop, read.
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def has_faces(self) -> bool:
        return bool(self.faces)

    def track_faces(self, track_id: int) -> list[VideoFace]:
        return [f for f in self.faces if f.track_id == track_id]


# ---------------------------------------------------------------- decoding


def open_video(source: VideoSource) -> av.container.InputContainer:
    """The container of a readable video, else `VideoError`."""
    try:
        container = av.open(source if not isinstance(source, Path) else str(source), mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise VideoError(f"not a readable video ({_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError("the file holds no video stream")
    return container


def sampled_frames(
    container: av.container.InputContainer, sample_fps: float = DEFAULT_SAMPLE_FPS
) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, H×W×3 RGB) for one frame every 1/`sample_fps` seconds, by the frames' timestamps."""
    if sample_fps <= 0:
        raise ValueError("sample_fps must be positive")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # FFmpeg decodes with frame and slice threads
    step, next_time = 1.0 / sample_fps, 0.0
    for frame in container.decode(stream):
        time_s = float(frame.time) if frame.time is not None else next_time
        if time_s + 1e-6 < next_time:
            continue
        yield time_s, frame.to_ndarray(format="rgb24")
        next_time = (int(time_s / step + 1e-6) + 1) * step


# ---------------------------------------------------------------- tracking


@dataclass
class _Track:
    track_id: int
    box: Box
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per sampled frame
    missed: int = 0  # sampled frames since the face was last seen

    def predicted(self) -> Box:
        """Where the face should be now: its last box moved on at its last velocity."""
        x, y, w, h = self.box
        steps = self.missed + 1
        return round(x + self.velocity[0] * steps), round(y + self.velocity[1] * steps), w, h


_NO_MATCH = 1e6


class IoUTracker:
    """Links boxes frame to frame into tracks; `update` gives each box its track id.

    A box may continue a track when it overlaps the track's predicted box (IoU ≥ `min_iou`) or its centre
    lies within `max_distance` face widths of the predicted centre, and its size is within 2× of the
    track's; among those, the assignment minimising (1 − IoU) + distance wins. The distance rule follows a
    face that moves more than its own width between samples (someone walking past at 2 frames/s).
    """

    def __init__(self, min_iou: float = 0.2, max_distance: float = 1.0, max_gap: int = 2) -> None:
        self.min_iou = min_iou
        self.max_distance = max_distance
        self.max_gap = max_gap
        self._tracks: list[_Track] = []
        self._next_id = 1

    def _cost(self, predicted: Box, box: Box) -> float:
        iou = box_iou(predicted, box)
        scale = max(predicted[2], predicted[3], box[2], box[3], 1)
        dx = (box[0] + box[2] / 2) - (predicted[0] + predicted[2] / 2)
        dy = (box[1] + box[3] / 2) - (predicted[1] + predicted[3] / 2)
        distance = math.hypot(dx, dy) / scale
        size_ratio = max(box[2], 1) / max(predicted[2], 1)
        if not 0.5 <= size_ratio <= 2.0 or (iou < self.min_iou and distance > self.max_distance):
            return _NO_MATCH
        return (1.0 - iou) + distance

    def update(self, boxes: list[Box]) -> list[int]:
        ids = [0] * len(boxes)
        if self._tracks and boxes:
            cost = np.array([[self._cost(t.predicted(), b) for b in boxes] for t in self._tracks])
            for r, c in zip(*linear_sum_assignment(cost)):
                if cost[r, c] >= _NO_MATCH:
                    continue
                track = self._tracks[r]
                steps = track.missed + 1
                track.velocity = ((boxes[c][0] - track.box[0]) / steps, (boxes[c][1] - track.box[1]) / steps)
                track.box, track.missed = boxes[c], -1  # -1: back to 0 below
                ids[c] = track.track_id
        for track in self._tracks:
            track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_gap]
        for c, box in enumerate(boxes):
            if ids[c] == 0:
                track = _Track(self._next_id, box)
                self._next_id += 1
                self._tracks.append(track)
                ids[c] = track.track_id
        return ids


# ---------------------------------------------------------------- the whole path


def analyse_video(
    source: VideoSource,
    predictor: EmotionPredictor,
    detector: FaceDetector | None = None,
    *,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    views: str = "mirror",
    smoothing: str = "none",
    ema_alpha: float = 0.5,
    max_gap: int = 2,
    progress: Callable[[float], None] | None = None,
    name: str | None = None,
) -> VideoAnalysis:
    """Read every face of a video at `sample_fps`; see the module docstring.

    `views`: "single", "mirror" (centre crop and its mirror image, the default) or "ten_crop".
    `smoothing`: "none", or "ema" (exponential moving average of V/A/D along each track, weight `ema_alpha`
    on the newest reading; the class is not smoothed). `progress` gets the fraction of the video done.
    """
    if smoothing not in SMOOTHING_METHODS:
        raise ValueError(f"smoothing must be one of {SMOOTHING_METHODS}")
    detector = detector or FaceDetector()
    container = open_video(source)
    with container:
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        result = VideoAnalysis(
            name=name or _name(source),
            duration_s=duration,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            sample_fps=sample_fps,
        )
        tracker = IoUTracker(max_gap=max_gap)
        best: dict[int, tuple[float, np.ndarray]] = {}  # track id → (detection score, thumbnail)
        pending: list[_SampledFrame] = []
        n_pending, last_time = 0, 0.0
        clock = result.stage_seconds
        frames = sampled_frames(container, sample_fps)
        try:
            while True:
                with _timed(clock, "decode"):
                    item = next(frames, None)
                if item is None:
                    break
                time_s, rgb = item
                last_time = time_s
                with _timed(clock, "detect"):
                    detected = detector.detect(rgb)
                with _timed(clock, "track"):
                    track_ids = tracker.update([f.box for f in detected])
                with _timed(clock, "crop"):
                    _keep_thumbnails(best, rgb, detected, track_ids)
                    crops = crop_faces(rgb, detected)
                pending.append(_SampledFrame(result.sampled_frames, time_s, track_ids, detected, crops))
                n_pending += len(detected)
                result.sampled_frames += 1
                if n_pending >= READ_BATCH:
                    with _timed(clock, "read"):
                        result.faces.extend(_read(pending, predictor, views))
                    pending, n_pending = [], 0
                if progress is not None and duration:
                    progress(min(time_s / duration, 1.0))
        except (av.error.FFmpegError, OSError) as exc:
            result.stopped_early = f"the video broke after {result.sampled_frames} sampled frames ({_reason(exc)})"
            logger.warning("%s: %s", result.name, result.stopped_early)
        with _timed(clock, "read"):
            result.faces.extend(_read(pending, predictor, views))
        # FFmpeg ends a cut-off file quietly: compare how far decoding got with the duration it declares.
        if result.stopped_early is None and duration and last_time + 1.0 / sample_fps + 0.5 < duration:
            result.stopped_early = (
                f"the video ended at {last_time:.1f} s of the {duration:.1f} s it declares (cut short?)"
            )
            logger.warning("%s: %s", result.name, result.stopped_early)
    if result.sampled_frames == 0 and result.stopped_early is None:
        raise VideoError("the video has no frames that can be decoded")
    if smoothing == "ema":
        result.faces = _smooth(result.faces, ema_alpha)
        result.smoothing = f"ema(alpha={ema_alpha})"
    result.tracks = _summaries(result.faces, best)
    if progress is not None:
        progress(1.0)
    return result


@dataclass(frozen=True)
class _SampledFrame:
    """A sampled frame whose faces are detected and tracked but not yet read."""

    index: int
    time_s: float
    track_ids: list[int]
    faces: list[DetectedFace]
    crops: np.ndarray  # (len(faces), 48, 48)


def _read(pending: list[_SampledFrame], predictor: EmotionPredictor, views: str) -> list[VideoFace]:
    faces = [face for frame in pending for face in frame.faces]
    if not faces:
        return []
    crops = np.concatenate([frame.crops for frame in pending if frame.faces])
    readings = judge_all(
        predictor.predict(crops, boxes=[f.box for f in faces], detection_scores=[f.score for f in faces], views=views),
        faces,
        crops,
    )
    slots = [(frame.index, frame.time_s, track_id) for frame in pending for track_id in frame.track_ids]
    return [VideoFace(index, time_s, track_id, r) for (index, time_s, track_id), r in zip(slots, readings)]


@contextmanager
def _timed(clock: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        clock[stage] += time.perf_counter() - started


def _keep_thumbnails(
    best: dict[int, tuple[float, np.ndarray]], rgb: np.ndarray, detected: list[DetectedFace], track_ids: list[int]
) -> None:
    for face, track_id in zip(detected, track_ids):
        if track_id not in best or face.score > best[track_id][0]:
            best[track_id] = (face.score, _thumbnail(rgb, face.box))


def _thumbnail(rgb: np.ndarray, box: Box) -> np.ndarray:
    from PIL import Image

    x, y, w, h = box
    side = int(max(w, h) * 1.3)
    cx, cy = x + w // 2, y + h // 2
    left, top = max(cx - side // 2, 0), max(cy - side // 2, 0)
    patch = rgb[top : top + side, left : left + side]
    return np.asarray(Image.fromarray(patch).resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.BILINEAR))


def _smooth(faces: list[VideoFace], alpha: float) -> list[VideoFace]:
    if not 0 < alpha <= 1:
        raise ValueError("ema_alpha must be in (0, 1]")
    state: dict[int, tuple[float, float, float]] = {}
    out = []
    for face in faces:  # in time order
        r = face.reading
        new = (r.valence, r.arousal, r.dominance)
        old = state.get(face.track_id, new)
        v, a, d = (alpha * n + (1 - alpha) * o for n, o in zip(new, old))
        state[face.track_id] = (v, a, d)
        out.append(replace(face, reading=replace(r, valence=v, arousal=a, dominance=d)))
    return out


def _summaries(faces: list[VideoFace], best: dict[int, tuple[float, np.ndarray]]) -> list[TrackSummary]:
    by_track: dict[int, list[VideoFace]] = {}
    for face in faces:
        by_track.setdefault(face.track_id, []).append(face)
    return [
        TrackSummary(track_id, seen[0].time_s, seen[-1].time_s, len(seen), best[track_id][1])
        for track_id, seen in sorted(by_track.items())
    ]


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else None


def _name(source: VideoSource) -> str:
    if isinstance(source, str | Path):
        return Path(source).name
    return getattr(source, "name", "video")


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() or type(exc).__name__
