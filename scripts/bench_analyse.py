"""How long the Analyse page takes from upload to labelled image, and how much memory it uses.

Measures what the page does per photo: decode the uploaded bytes, detect faces, crop, predict
(ten-crop), draw the labelled boxes, and encode the result as the JPEG the browser is sent.
Inputs: a ~30-face snapshot and a 1-face snapshot, both COMPOSITES made by
`scripts/make_group_photo.compose_group_photo` from the real sample photos in
../shared/data/photos (head tiles on a grey background; not real classroom photos).

    nice -n 19 python scripts/bench_analyse.py [--repeats 5] [--faces 30] [--threads 0]

Memory: resident set size (RSS) of this process before loading anything, after loading the
model, and its peak while analysing each photo (VmHWM, reset before each photo on Linux);
plus the tracemalloc peak of Python/NumPy allocations (PyTorch's own buffers are not traced).
This is a benchmark to read, not a timed test.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import torch
from make_group_photo import compose_group_photo
from PIL import Image

from vadcore.analysis import analyse_photo, annotate
from vadcore.detect import FaceDetector
from vadcore.inference import EmotionPredictor


def _status(field: str) -> float:
    """A /proc/self/status field in MiB (Linux), or NaN elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def upload_to_labelled_image(data: bytes, predictor: EmotionPredictor, detector: FaceDetector) -> tuple[int, bytes]:
    """What the page does for one uploaded photo; returns the face count and the JPEG shown."""
    result = analyse_photo(data, predictor, detector)
    return len(result.readings), _jpeg(annotate(result.image, result.readings, photo_size=result.size))


def measure(name: str, data: bytes, predictor, detector, repeats: int) -> dict:
    upload_to_labelled_image(data, predictor, detector)  # warm-up (first-call allocations)
    times, cpu = [], []
    _reset_peak()
    tracemalloc.start()
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        n, _ = upload_to_labelled_image(data, predictor, detector)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "name": name,
        "faces": n,
        "bytes": len(data),
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "cpu_s": statistics.median(cpu),
        "rss_peak_mib": _status("VmHWM"),
        "traced_peak_mib": traced_peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--faces", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rss_start = _status("VmRSS")
    t0 = time.perf_counter()
    predictor = EmotionPredictor()
    detector = FaceDetector()
    load_s = time.perf_counter() - t0
    rss_model = _status("VmRSS")

    many = _jpeg(Image.fromarray(compose_group_photo(args.faces)))
    one = _jpeg(Image.fromarray(compose_group_photo(1)))
    rows = [
        measure(f"{args.faces}-face composite", many, predictor, detector, args.repeats),
        measure("1-face composite", one, predictor, detector, args.repeats),
    ]
    rss_end = _status("VmRSS")

    print(
        f"VAD Lens analyse benchmark — {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, device {predictor.device}, model {predictor.model_version}"
    )
    print("Inputs are COMPOSITES of real sample photos (scripts/make_group_photo.py), JPEG q90.")
    print(f"model + detector load: {load_s:.2f} s; RSS {rss_start:.0f} MiB before, {rss_model:.0f} MiB after loading")
    print(
        f"{'photo':<22}{'faces':>6}{'KiB':>7}{'median s':>10}{'min s':>8}{'max s':>8}{'CPU s':>7}{'RSS peak MiB':>14}"
        f"{'traced peak MiB':>17}"
    )
    for r in rows:
        print(
            f"{r['name']:<22}{r['faces']:>6}{r['bytes'] / 1024:>7.0f}{r['median_s']:>10.3f}{r['min_s']:>8.3f}"
            f"{r['max_s']:>8.3f}{r['cpu_s']:>7.2f}{r['rss_peak_mib']:>14.0f}{r['traced_peak_mib']:>17.1f}"
        )
    print(f"RSS after both: {rss_end:.0f} MiB (+{rss_end - rss_model:.0f} MiB over the loaded model)")
    print(
        f"ratio {args.faces}-face / 1-face: {rows[0]['median_s'] / rows[1]['median_s']:.1f}× wall time, "
        f"{rows[0]['cpu_s'] / rows[1]['cpu_s']:.1f}× CPU time"
    )
    print("(wall time depends on what else runs; CPU time = this process's user+system seconds, median)")


if __name__ == "__main__":
    main()
