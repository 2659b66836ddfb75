"""The consistency-loss study: runs that repeat exactly, and an analysis that pairs runs by seed on the same faces."""

import json
import shutil

import numpy as np
import pytest

from vadcore.ablation import analyse, t_interval

from helpers import AUTHORS_SAMPLE, load_script, sample_data_dir


def _result(cell: str, seed: int, correct: list[int], checksum: str = "faces") -> dict:
    target = np.linspace(-1, 1, 31)
    pred = np.column_stack([target + 0.1 * np.sin(np.arange(31) * (seed + 1))] * 3)
    return {
        "cell": cell,
        "seed": seed,
        "repeat": False,
        "test_checksum": checksum,
        "correct": correct,
        "violated": [0] * len(correct),
        "human_vad": pred.tolist(),
        "human_prototype_vad": pred.tolist(),
        "human_target": np.column_stack([target] * 3).tolist(),
        "dims": [0, 1, 2],
    }


def test_t_interval_matches_the_textbook_value():
    # mean 2, sd 1, n 4: half-width t(0.975, 3) · 1 / 2 = 3.182 / 2
    t = t_interval([1.0, 2.0, 2.0, 3.0 + 0.0])
    assert t["mean"] == pytest.approx(2.0)
    assert t["high"] - t["mean"] == pytest.approx(3.1824 * np.std([1, 2, 2, 3], ddof=1) / 2, rel=1e-3)


def test_a_cell_is_paired_with_the_baseline_seed_by_seed():
    base = [_result("vad-none", s, [1, 0, 1, 0, 1, 0, 1, 0]) for s in range(3)]
    better = [_result("vad-soft-0.1", s, [1, 1, 1, 0, 1, 0, 1, 0]) for s in range(3)]
    analysis = analyse(base + better, "vad-none")
    paired = analysis["cells"]["vad-soft-0.1"]["paired"]
    assert [p["seed"] for p in paired] == [0, 1, 2]
    assert all(p["accuracy"]["difference"] == pytest.approx(1 / 8) for p in paired)
    assert all(p["accuracy"]["mcnemar"]["b"] == 1 and p["accuracy"]["mcnemar"]["c"] == 0 for p in paired)
    assert analysis["cells"]["vad-soft-0.1"]["paired_summary"]["r_valence"]["mean"] == pytest.approx(0.0)


def test_runs_read_on_other_faces_are_never_paired():
    base = [_result("vad-none", 0, [1, 0])]
    other = [_result("vad-soft-0.1", 0, [1, 1], checksum="other faces")]
    with pytest.raises(ValueError, match="other faces than the baseline"):
        analyse(base + other, "vad-none")


@pytest.mark.slow
def test_the_same_cell_and_seed_trained_twice_reads_every_face_the_same(tmp_path):
    """The reproducibility the study rests on: a repeat lands on the same accuracy, face for face."""
    data = sample_data_dir(tmp_path / "data")
    shutil.copy(AUTHORS_SAMPLE, data / "vad_seed" / "public_test.csv")  # human rows for the agreement figures
    ablation = load_script("ablation")
    budget = ["--data", str(data), "--out", str(tmp_path / "runs"), "--limit-train", "256", "--epochs", "1"]
    ablation.main([*budget, "--seeds", "3", "--consistency", "none", "soft"])
    ablation.main([*budget, "--seeds", "3", "--consistency", "soft", "--repeat"])
    folder = next((tmp_path / "runs").iterdir())
    analysis = json.loads((folder / "analysis.json").read_text())
    (repeat,) = analysis["repeats"]
    assert repeat["cell"] == "vad-soft-0.1"
    assert repeat["verdicts_changed"] == 0
    assert repeat["accuracy_repeat"] == repeat["accuracy_first"]
    assert "vad-soft-0.1 − vad-none, paired by seed" in (folder / "report.md").read_text()
    assert (folder / "paired_differences.png").stat().st_size > 10_000
