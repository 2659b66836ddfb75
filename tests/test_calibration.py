"""Temperature scaling: fitted by NLL, measured by ECE, stored in the checkpoint and applied by inference."""

import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from vadcore.calibration import (
    expected_calibration_error,
    fit_temperature,
    save_reliability_diagram,
    view_probabilities,
)
from vadcore.checkpoint import CheckpointError, checkpoint_temperature, read_checkpoint, write_calibration
from vadcore.data import file_sha256, load_fer2013
from vadcore.inference import EmotionPredictor
from vadcore.settings import SHIPPED_CHECKPOINT
from vadcore.transforms import center_crop, to_tensor

from helpers import FER_SAMPLE, load_script


def _overconfident(n: int, true_t: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits (1, n, 7) whose labels are drawn from softmax(logits / true_t): calibrated at T = true_t."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(n, 7)) * 3).astype(np.float32)
    p = view_probabilities(logits[None], true_t)
    labels = (rng.random((n, 1)) > p.cumsum(1)).sum(1).clip(0, 6)  # one draw per row from its probabilities
    return logits[None], labels


def test_fitted_temperature_recovers_the_one_the_labels_were_drawn_with():
    logits, labels = _overconfident(6000, 2.5)
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.08)
    logits, labels = _overconfident(6000, 0.7, seed=1)
    assert fit_temperature(logits, labels) == pytest.approx(0.7, rel=0.08)


def test_ece_by_hand_and_after_scaling():
    probs = np.tile([0.9, 0.1 / 6, 0.1 / 6, 0.1 / 6, 0.1 / 6, 0.1 / 6, 0.1 / 6], (10, 1))
    labels = np.array([0] * 5 + [1] * 5)  # 90% confident, 50% right
    assert expected_calibration_error(probs, labels) == pytest.approx(0.4)
    logits, labels = _overconfident(6000, 2.5)
    before = expected_calibration_error(view_probabilities(logits), labels)
    after = expected_calibration_error(view_probabilities(logits, fit_temperature(logits, labels)), labels)
    assert before > 0.15 and after < 0.03


def test_reliability_diagram_is_a_png(tmp_path):
    logits, labels = _overconfident(500, 2.0)
    path = tmp_path / "r.png"
    save_reliability_diagram({"raw": (view_probabilities(logits), labels)}, "test", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def faces():
    return load_fer2013(FER_SAMPLE).split("PrivateTest").pixels[:20]


def test_uncalibrated_checkpoint_reads_the_raw_softmax_exactly(tmp_path, faces):
    payload = read_checkpoint(SHIPPED_CHECKPOINT)  # the shipped file stores a temperature; take it out
    payload.pop("calibration", None)
    torch.save(payload, tmp_path / "raw.pt")
    predictor = EmotionPredictor(tmp_path / "raw.pt", device="cpu", use_ten_crop=False)
    assert predictor.temperature == 1.0
    readings = predictor.predict(faces)
    with torch.inference_mode():
        x = center_crop(to_tensor(faces), predictor.model.config.input_size)
        raw = predictor.model(x.contiguous(memory_format=torch.channels_last))[0].softmax(1).numpy()
    read = np.array([list(r.probabilities.values()) for r in readings])
    np.testing.assert_allclose(read, raw, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_stored_temperature_softens_readings_without_changing_weights_or_single_crop_classes(tmp_path, faces):
    out = tmp_path / "calibrated.pt"
    write_calibration(SHIPPED_CHECKPOINT, {"temperature": 2.0, "fitted_on": "PublicTest"}, out)
    stored = read_checkpoint(out)  # weights_only, as every reader loads it
    assert stored["calibration"] == {"temperature": 2.0, "fitted_on": "PublicTest"}
    original = read_checkpoint(SHIPPED_CHECKPOINT)
    assert all(torch.equal(v, stored["state_dict"][k]) for k, v in original["state_dict"].items())
    assert file_sha256(out) != file_sha256(SHIPPED_CHECKPOINT)  # a new model to the registry
    raw = EmotionPredictor(SHIPPED_CHECKPOINT, device="cpu", use_ten_crop=False).predict(faces)
    scaled = EmotionPredictor(out, device="cpu", use_ten_crop=False).predict(faces)
    assert [r.label for r in raw] == [r.label for r in scaled]
    assert all(max(s.probabilities.values()) < max(r.probabilities.values()) for r, s in zip(raw, scaled))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), "warm"])
def test_a_temperature_inference_could_not_use_is_refused(tmp_path, bad):
    with pytest.raises(CheckpointError, match="temperature"):
        write_calibration(SHIPPED_CHECKPOINT, {"temperature": bad}, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(CheckpointError, match="temperature"):
        checkpoint_temperature({"calibration": {"temperature": bad}})


@pytest.mark.slow
def test_calibrate_script_fits_on_publictest_and_writes_the_key(tmp_path):
    df = pd.read_csv(FER_SAMPLE)
    df["Usage"] = df["Usage"].replace("PrivateTest", "PublicTest")  # the sample's 70 held-out faces
    (tmp_path / "fer2013").mkdir()
    with gzip.open(tmp_path / "fer2013" / "fer2013.csv.gz", "wt") as f:
        df.to_csv(f, index=False)
    out = tmp_path / "calibrated.pt"
    before = file_sha256(SHIPPED_CHECKPOINT)
    calibrate = load_script("calibrate")
    result = calibrate.main(["--checkpoint", str(SHIPPED_CHECKPOINT), "--data", str(tmp_path), "--out", str(out)])
    assert result["fitted_on"] == "PublicTest" and result["faces"] == 70
    assert 0.2 < result["temperature"] < 5
    assert result["ece_after"] <= result["ece_before"] + 0.02
    assert read_checkpoint(out)["calibration"] == result
    assert file_sha256(SHIPPED_CHECKPOINT) == before
