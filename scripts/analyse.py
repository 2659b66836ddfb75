"""Analyse photos, folders and videos from the shell: one table row per face per frame, and a JSON summary.

    python scripts/analyse.py PATH [PATH ...] [--out readings.csv|readings.parquet] [--workers N] [--resume]

Each PATH is a photo, a video or a folder (read recursively; hidden files are skipped). Rows: file, kind,
time_s, frame_index, track_id, face_index, box, detection score, class, confidence, the seven class
probabilities, valence, arousal, dominance (dominance is experimental), consistency violations, quality
flags (vadcore.quality's codes) and their reasons in words, and model version (columns:
vadcore.media.ROW_COLUMNS). Photos are read ten-crop; videos at
--fps frames per second from the centre crop and its mirror image, tracked into per-person tracks. The
engine calls are the app's (vadcore.analysis.analyse_photo, vadcore.video.analyse_video).

The model is --checkpoint, else the app's active model (Admin, Model) from the configured database
(DATABASE_URL; default var/vadlens.db, used only where it exists), else the shipped one; the file must still
hold the bytes that were checked, as in the app.

The summary (--out with .json) lists every file with its status, faces, tracks and, for a file that could
not be read, the reason. A file that fails gets one line on stderr and the others go on. Results of each
finished file are kept under <out>.parts/, so that --resume skips the files already done after an
interruption; the final table is assembled from the parts.

Exit codes: 0 every file was analysed; 1 at least one file could not be analysed (the others are in the
table); 2 bad arguments or no file to analyse.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from vadcore.csv_safety import to_csv
from vadcore.media import ROW_COLUMNS, MediaError, analyse_file
from vadcore.settings import SHIPPED_CHECKPOINT, configure_logging, get_settings
from vadcore.video import DEFAULT_SAMPLE_FPS, SMOOTHING_METHODS

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

# One predictor and detector per worker process, loaded by `_start_worker`.
_ENGINE: dict[str, Any] = {}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("paths", nargs="+", type=Path, help="photos, videos or folders")
    p.add_argument("--out", type=Path, default=Path("readings.csv"), help="the table: .csv or .parquet")
    p.add_argument("--summary", type=Path, default=None, help="the JSON summary (default: <out>.json)")
    p.add_argument("--fps", type=float, default=DEFAULT_SAMPLE_FPS, help="video frames read per second")
    p.add_argument("--smoothing", choices=SMOOTHING_METHODS, default="none", help="V/A/D along each video track")
    p.add_argument(
        "--checkpoint", type=Path, default=None, help="model (default: the app's active one, else the shipped one)"
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes (each loads the model once)")
    p.add_argument("--resume", action="store_true", help="skip files whose results are already in <out>.parts/")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def find_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The files to analyse (folders expanded, sorted, hidden files skipped) and a problem line per bad path."""
    files: list[Path] = []
    problems = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    return list(dict.fromkeys(files)), problems


def part_name(path: Path) -> str:
    """The parts file of one input: stable for the same file (path, size, modification time)."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:20] + ".parquet"


class ModelUnavailable(RuntimeError):
    """The registry's active model cannot be read safely: its file changed after its check."""


def model_to_use(checkpoint: Path | None) -> Path:
    """`checkpoint`, else the active model of the configured database's registry (as the app serves it), else
    the shipped one: where no database exists (a missing SQLite file is never created) or none passed its check."""
    if checkpoint is not None:
        return checkpoint
    url = get_settings().database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return SHIPPED_CHECKPOINT
    from db import make_engine
    from db.services import Service
    from vadcore.data import file_sha256

    engine = make_engine(url)
    try:
        active = Service(engine).active_model()
    finally:
        engine.dispose()
    if active is None:
        return SHIPPED_CHECKPOINT
    if file_sha256(active.path) != active.sha256:
        raise ModelUnavailable(f"the active model's file {active.path} changed after its check ({active.version})")
    return Path(active.path)


def _start_worker(checkpoint: Path | None, threads: int) -> None:
    import torch

    from vadcore.detect import FaceDetector
    from vadcore.inference import EmotionPredictor

    torch.set_num_threads(threads)
    _ENGINE["predictor"] = EmotionPredictor(checkpoint, device="cpu")
    _ENGINE["detector"] = FaceDetector()


def _analyse_one(path: Path, parts: Path, fps: float, smoothing: str) -> dict[str, Any]:
    """Analyse one file in a worker; write its rows as a part; return its summary entry."""
    try:
        result = analyse_file(
            path, _ENGINE["predictor"], _ENGINE["detector"], name=str(path), sample_fps=fps, smoothing=smoothing
        )
    except (MediaError, OSError) as exc:
        return {"file": str(path), "status": "failed", "reason": str(exc)}
    frame = pd.DataFrame(result.rows, columns=list(ROW_COLUMNS))
    tmp = parts / (part_name(path) + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(parts / part_name(path))
    entry = {"file": str(path), "status": "analysed", "kind": result.kind, **result.summary}
    (parts / part_name(path)).with_suffix(".json").write_text(json.dumps(entry))
    return entry


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.suffix.lower() not in (".csv", ".parquet"):
        print(f"--out must end in .csv or .parquet, not {args.out.name!r}", file=sys.stderr)
        return EXIT_USAGE
    if args.workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    files, problems = find_files(args.paths)
    for line in problems:
        print(line, file=sys.stderr)
    if not files:
        print("nothing to analyse", file=sys.stderr)
        return EXIT_USAGE

    try:
        args.checkpoint = model_to_use(args.checkpoint)
    except ModelUnavailable as exc:
        print(f"{exc}; an administrator must activate a checked model, or pass --checkpoint", file=sys.stderr)
        return EXIT_USAGE
    print(f"model: {args.checkpoint}", file=sys.stderr)

    parts = args.out.with_name(args.out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    done = {p for p in files if args.resume and (parts / part_name(p)).is_file()}
    todo = [p for p in files if p not in done]
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    entries: dict[str, dict[str, Any]] = {
        str(p): json.loads((parts / part_name(p)).with_suffix(".json").read_text()) for p in done
    }
    bar = tqdm(total=len(todo), unit="file", disable=args.no_progress, desc="analysing")
    if args.workers == 1:
        _start_worker(args.checkpoint, threads)
        for path in todo:
            entries[str(path)] = _report(_analyse_one(path, parts, args.fps, args.smoothing), bar)
    else:
        # spawn, not fork: a forked child of a process whose PyTorch thread pool is running can hang.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            args.workers, mp_context=spawn, initializer=_start_worker, initargs=(args.checkpoint, threads)
        ) as pool:
            futures = [pool.submit(_analyse_one, p, parts, args.fps, args.smoothing) for p in todo]
            for future in as_completed(futures):
                entry = _report(future.result(), bar)
                entries[entry["file"]] = entry
    bar.close()

    analysed = [p for p in files if entries[str(p)]["status"] == "analysed"]
    frames = [pd.read_parquet(parts / part_name(p)) for p in analysed]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ROW_COLUMNS))
    if args.out.suffix.lower() == ".parquet":
        table.to_parquet(args.out, index=False)
    else:
        to_csv(table, args.out, index=False)  # file names and notes cannot become spreadsheet formulas
    failed = [entries[str(p)] for p in files if entries[str(p)]["status"] != "analysed"]
    summary = {
        "files": [entries[str(p)] for p in files],
        "analysed": len(analysed),
        "failed": len(failed) + len(problems),
        "skipped_as_done": len(done),
        "rows": len(table),
        "out": str(args.out),
        "note": "V/A/D are on -1..+1; dominance is experimental; photos read ten-crop, videos centre+mirror",
    }
    summary_path = args.summary or args.out.with_suffix(".json")
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    print(f"{len(table)} rows from {len(analysed)} of {len(files)} files → {args.out}; summary → {summary_path}")
    return EXIT_SOME_FAILED if failed or problems else EXIT_OK


def _report(entry: dict[str, Any], bar: tqdm) -> dict[str, Any]:
    if entry["status"] != "analysed":
        tqdm.write(f"{entry['file']}: not analysed: {entry['reason']}", file=sys.stderr)
    bar.update(1)
    return entry


if __name__ == "__main__":
    configure_logging()
    raise SystemExit(main())
