"""The robustness bench: each shift changes the faces the way it says, and the bench reports every shift for every
model, with the paired difference when two are given."""

import json
import shutil

import numpy as np
import pytest

from vadcore.checkpoint import load_model
from vadcore.data import load_fer2013
from vadcore.robustness import (
    EYE_ROWS,
    LOW_LIGHT_GAIN,
    MOUTH_ROWS,
    SHIFT_NAMES,
    BenchFaces,
    markdown_table,
    run_bench,
    shifted_faces,
)
from vadcore.settings import SHIPPED_CHECKPOINT

from helpers import FER_SAMPLE, SHARED_DATA, load_script


@pytest.fixture(scope="module")
def sample():
    return load_fer2013(FER_SAMPLE).split("PrivateTest")


@pytest.fixture(scope="module")
def faces(sample):
    return sample.pixels[:16]


@pytest.fixture(scope="module")
def shifted(faces):
    return shifted_faces(faces, seed=0)


def test_every_shift_but_none_changes_every_face_and_keeps_the_format(faces, shifted):
    assert list(shifted) == list(SHIFT_NAMES)
    assert np.array_equal(shifted["none"], faces)
    for name, out in shifted.items():
        assert out.dtype == np.uint8 and out.shape == faces.shape, name
        if name != "none":
            changed = (out != faces).reshape(len(faces), -1).any(1)
            assert changed.all(), f"{name} left {int((~changed).sum())} faces unchanged"


def test_occlusion_blacks_out_its_band_and_nothing_else(faces, shifted):
    for name, (top, bottom) in (("mouth hidden", MOUTH_ROWS), ("eyes hidden", EYE_ROWS)):
        out = shifted[name]
        assert (out[:, top:bottom] == 0).all(), name
        outside = np.ones(faces.shape[1], bool)
        outside[top:bottom] = False
        assert np.array_equal(out[:, outside], faces[:, outside]), name
    assert MOUTH_ROWS == (32, 48)  # the lower third of a 48-px face


def test_photometric_and_geometric_shifts_do_what_their_names_say(faces, shifted):
    darker = shifted["low light"].astype(float).mean((1, 2)) / faces.astype(float).mean((1, 2))
    assert np.allclose(darker, LOW_LIGHT_GAIN, atol=0.03)
    # blur and downscaling remove fine detail: less energy in neighbouring-pixel differences
    detail = lambda f: np.abs(np.diff(f.astype(float), axis=2)).mean()  # noqa: E731
    for name in ("blur σ 1.5", "24 px"):
        assert detail(shifted[name]) < 0.75 * detail(faces), name
    # a bright dot right of centre: +20° (counter-clockwise) lifts it, −20° lowers it, zooming in pushes it out
    dot = np.zeros((1, 48, 48), np.uint8)
    dot[0, 23:25, 38:40] = 255
    out = shifted_faces(dot)
    moved = {name: np.argwhere(out[name][0] > 60).mean(0) for name in ("none", *SHIFT_NAMES[1:5])}
    assert moved["rotate +20°"][0] < 21 < 27 < moved["rotate −20°"][0]
    assert moved["zoom in 1.2×"][1] > 40 > moved["none"][1] > moved["zoom out 0.8×"][1]


def test_shifts_are_the_same_on_every_run(faces, shifted):
    again = shifted_faces(faces, seed=0)
    assert all(np.array_equal(again[name], shifted[name]) for name in SHIFT_NAMES)
    assert not np.array_equal(shifted_faces(faces, seed=1)["low light"], shifted["low light"])


def table_rows(table: str) -> list[str]:
    """The first cell of each body row of a Markdown table."""
    return [line.split(" | ")[0].removeprefix("| ") for line in table.splitlines() if line.startswith("| ")][2:]


def test_the_table_has_every_shift_for_each_model_and_their_paired_difference(sample):
    model, _ = load_model(SHIPPED_CHECKPOINT)
    counts = {"n": len(sample), "exact": 0, "near": 0, "kept": len(sample), "used": 12}
    report = run_bench({"old": model, "new": model}, BenchFaces(sample.subset(np.arange(12)), "none", counts))
    assert all(report["accuracy"][m][s]["n"] == 12 for m in ("old", "new") for s in SHIFT_NAMES)
    table = markdown_table(report)
    assert table_rows(table) == list(SHIFT_NAMES)
    assert "`old` | `new` | `new` − `old`" in table.splitlines()[0]
    assert "+0.0 (+0.0…+0.0), p 1" in table.splitlines()[2]  # the same weights: no difference on any face


@pytest.mark.skipif(
    not (SHARED_DATA / "fer2013" / "fer2013.csv.gz").exists(),
    reason="needs ../shared/data/fer2013 (the full FER2013 splits, to remove duplicates of Training faces)",
)
@pytest.mark.slow
def test_bench_reports_every_shift_for_two_models_on_deduplicated_faces(tmp_path):
    copy = tmp_path / "copy.pt"
    shutil.copy(SHIPPED_CHECKPOINT, copy)
    bench = load_script("bench_robustness")
    argv = ["--data", str(SHARED_DATA), "--checkpoints", str(SHIPPED_CHECKPOINT), str(copy)]
    report = bench.main([*argv, "--limit", "24", "--resamples", "200", "--out", str(tmp_path / "out")])
    counts = report["counts"]
    assert counts["used"] == 24 and counts["kept"] == counts["n"] - counts["exact"] - counts["near"] > 0
    assert counts["exact"] > 0  # PrivateTest does hold copies of Training faces, and they were removed
    baseline, second = report["models"]
    assert second.endswith("(copy.pt)")
    for shift in SHIFT_NAMES:
        a, b = report["accuracy"][baseline][shift], report["accuracy"][second][shift]
        assert a == b and a["low"] <= a["accuracy"] <= a["high"] and a["n"] == 24
        paired = report["paired"][second][shift]
        assert paired["difference"] == 0 and paired["mcnemar"]["p_mid"] == 1.0  # the same weights
    table = (tmp_path / "out" / "robustness.md").read_text()
    assert table_rows(table) == list(SHIFT_NAMES)
    assert "single centre crop" in table and "n = 24" in table
    assert json.loads((tmp_path / "out" / "robustness.json").read_text())["models"] == [baseline, second]
