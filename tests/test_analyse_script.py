"""scripts/analyse.py on a folder of real photos, a real video, a damaged photo and a text file: rows for the
good files, one clear line for each bad one, a summary, exit codes, CSV and Parquet, and --resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vadcore.media import ROW_COLUMNS
from vadcore.settings import PROJECT_ROOT, SHIPPED_CHECKPOINT

from helpers import SHARED_DATA, load_script

analyse = load_script("analyse")


@pytest.fixture(autouse=True)
def no_app_database(tmp_path: Path, monkeypatch) -> Path:
    """The script reads the app's registry where a database exists: these tests name one that does not."""
    missing = tmp_path / "no-app.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    return missing


def test_without_a_database_the_shipped_model_reads_and_none_is_created(no_app_database: Path, tmp_path: Path):
    assert analyse.model_to_use(None) == SHIPPED_CHECKPOINT
    assert not no_app_database.exists()
    assert analyse.model_to_use(tmp_path / "mine.pt") == tmp_path / "mine.pt"  # --checkpoint wins


@pytest.mark.slow  # registers and checks a model on 70 real FER2013 faces
@pytest.mark.skipif(not (SHARED_DATA / "fer2013").is_dir(), reason="the check faces come from the shared FER2013")
def test_the_registrys_active_model_reads_and_a_file_changed_after_its_check_is_refused(
    app_service, tmp_path: Path, photos: Path, capsys
):
    import torch

    from vadcore.checkpoint import read_checkpoint

    admin = app_service.create_first_admin("admin", "admin-password-1")
    payload = read_checkpoint(SHIPPED_CHECKPOINT)  # the shipped weights as float32: other bytes, same readings
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    retrained = tmp_path / "retrained.pt"
    torch.save(payload | {"state_dict": state, "model_version": "retrained-3"}, retrained)
    assert analyse.model_to_use(None) == SHIPPED_CHECKPOINT.resolve()  # first use: the shipped one is activated
    app_service.activate_model(admin, app_service.register_model(admin, retrained).id)
    assert analyse.model_to_use(None) == retrained.resolve()
    assert analyse.model_to_use(SHIPPED_CHECKPOINT) == SHIPPED_CHECKPOINT

    torch.save(payload | {"model_version": "swapped"}, retrained)  # other bytes after the check
    out = tmp_path / "readings.csv"
    assert analyse.main([str(photos / "biden.jpg"), "--out", str(out), "--no-progress"]) == analyse.EXIT_USAGE
    assert "changed after its check" in capsys.readouterr().err and not out.exists()


@pytest.fixture
def mixed_folder(tmp_path: Path, photos: Path, videos: Path) -> Path:
    folder = tmp_path / "inbox"
    (folder / "lesson").mkdir(parents=True)
    shutil.copy(photos / "obama_and_biden.jpg", folder / "group.jpg")
    shutil.copy(photos / "biden.jpg", folder / "portrait.jpg")
    shutil.copy(videos / "single_face.mp4", folder / "lesson" / "clip.mp4")
    (folder / "damaged.jpg").write_bytes((photos / "biden.jpg").read_bytes()[:3000])
    (folder / "notes.txt").write_text("minutes of the meeting\n")
    (folder / ".DS_Store").write_bytes(b"\0\1")  # hidden: skipped, not reported
    return folder


def test_a_mixed_folder_gives_rows_for_the_good_files_and_one_line_per_bad_one(mixed_folder: Path, tmp_path, capsys):
    out = tmp_path / "out" / "readings.csv"
    assert analyse.main([str(mixed_folder), "--out", str(out), "--no-progress"]) == analyse.EXIT_SOME_FAILED
    lines = [line for line in capsys.readouterr().err.splitlines() if "not analysed" in line]
    assert len(lines) == 2
    assert any("damaged.jpg: not analysed: The photo is damaged" in line for line in lines)
    assert any("notes.txt: not analysed: neither a photo nor a video" in line for line in lines)

    table = pd.read_csv(out)
    assert list(table.columns) == list(ROW_COLUMNS)
    per_file = table.groupby(table["file"].map(lambda f: Path(f).name)).size().to_dict()
    assert per_file == {"group.jpg": 3, "portrait.jpg": 1, "clip.mp4": 5}  # the clip: 5 sampled frames
    clip = table[table["kind"] == "video"]
    assert list(clip["time_s"]) == [0.0, 0.5, 1.0, 1.5, 2.0] and clip["track_id"].nunique() == 1
    assert table[["valence", "arousal", "dominance"]].abs().le(1).all().all()
    assert (
        table[[f"p_{c}" for c in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")]]
        .sum(axis=1)
        .round(4)
        .eq(1)
        .all()
    )

    summary = json.loads(out.with_suffix(".json").read_text())
    status = {Path(f["file"]).name: f["status"] for f in summary["files"]}
    assert status == {
        "clip.mp4": "analysed",
        "damaged.jpg": "failed",
        "group.jpg": "analysed",
        "notes.txt": "failed",
        "portrait.jpg": "analysed",
    }
    assert summary["rows"] == 9 and summary["analysed"] == 3 and summary["failed"] == 2


def test_resume_skips_what_is_done_and_parquet_holds_the_same_rows(mixed_folder: Path, tmp_path):
    csv_out, parquet_out = tmp_path / "a" / "readings.csv", tmp_path / "a" / "readings.parquet"
    analyse.main([str(mixed_folder), "--out", str(csv_out), "--no-progress"])
    parts = sorted((csv_out.parent / "readings.csv.parts").glob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in parts]
    assert len(parts) == 3
    analyse.main([str(mixed_folder), "--out", str(csv_out), "--no-progress", "--resume"])
    assert [p.stat().st_mtime_ns for p in parts] == stamps  # nothing analysed again
    assert json.loads(csv_out.with_suffix(".json").read_text())["skipped_as_done"] == 3

    analyse.main([str(mixed_folder), "--out", str(parquet_out), "--no-progress"])
    # keep_default_na=False: an empty text cell ("no violations") stays "" as in Parquet
    pd.testing.assert_frame_equal(
        pd.read_parquet(parquet_out), pd.read_csv(csv_out, keep_default_na=False), check_dtype=False
    )


def test_nothing_to_analyse_and_bad_arguments_exit_with_2(tmp_path: Path, capsys):
    assert analyse.main([str(tmp_path / "missing")]) == analyse.EXIT_USAGE
    assert "no such file or folder" in capsys.readouterr().err
    assert analyse.main([str(tmp_path), "--out", str(tmp_path / "x.xlsx")]) == analyse.EXIT_USAGE
    assert "--out must end in .csv or .parquet" in capsys.readouterr().err


@pytest.mark.slow
def test_worker_processes_give_the_same_rows(mixed_folder: Path, tmp_path: Path):
    """Run from the shell as a user would (worker processes are spawned from the script itself)."""
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert analyse.main([str(mixed_folder), "--out", str(one), "--no-progress"]) == analyse.EXIT_SOME_FAILED
    script = PROJECT_ROOT / "scripts" / "analyse.py"
    command = [sys.executable, str(script), str(mixed_folder), "--out", str(two), "--no-progress", "--workers", "2"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == analyse.EXIT_SOME_FAILED, run.stderr
    assert run.stderr.count("not analysed") == 2
    pd.testing.assert_frame_equal(pd.read_csv(one), pd.read_csv(two))


def test_file_names_that_look_like_formulas_are_neutralised_in_the_csv(photos: Path, tmp_path: Path, monkeypatch):
    """A photo named "=HYPERLINK(…).jpg" (or "+1+1.jpg", "@SUM(1).jpg") must not become a formula when the
    table is opened in a spreadsheet: the cell gets a leading apostrophe, the numbers stay numbers."""
    monkeypatch.chdir(tmp_path)  # relative paths: the file column starts with the name itself
    names = ['=HYPERLINK("http:example.invalid")', "+1+1", "@SUM(1)", "-1+1"]
    for name in names:
        shutil.copy(photos / "biden.jpg", tmp_path / f"{name}.jpg")
    out = tmp_path / "readings.csv"
    assert analyse.main(["--out", str(out), "--no-progress", "--", *(f"{n}.jpg" for n in names)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert sorted(table["file"]) == sorted(f"'{n}.jpg" for n in names)
    assert pd.api.types.is_float_dtype(table["valence"])
