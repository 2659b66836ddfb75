"""The shipped checkpoint: it loads, says what it is, and reads real faces as its card says."""

import json

import numpy as np
import pytest

from vadcore.checkpoint import read_checkpoint
from vadcore.data import load_fer2013
from vadcore.inference import EmotionPredictor
from vadcore.settings import SHIPPED_CHECKPOINT
from vadcore.taxonomy import CLASS_NAMES

from helpers import FER_SAMPLE, SHARED_DATA

CARD_FIGURES = SHIPPED_CHECKPOINT.with_suffix(".json")
NEGATIVE_VALENCE = {"angry", "disgust", "fear", "sad"}


@pytest.fixture(scope="module")
def private_sample():
    table = load_fer2013(FER_SAMPLE)
    return table.split("PrivateTest")  # 10 faces per class, never trained on


@pytest.fixture(scope="module")
def readings(private_sample):
    return EmotionPredictor(device="cpu").predict(private_sample.pixels)


def test_checkpoint_is_small_and_says_what_it_is():
    assert SHIPPED_CHECKPOINT.stat().st_size < 50 * 2**20
    meta = read_checkpoint(SHIPPED_CHECKPOINT)
    assert meta["class_names"] == list(CLASS_NAMES)
    assert meta["vad_scale"] == [-1.0, 1.0]
    assert len(meta["data_checksum"]) == 64
    assert meta["training"]["consistency"] == "soft"


def test_shipped_model_classifies_real_faces_as_its_accuracy_implies(private_sample, readings):
    predicted = np.array([CLASS_NAMES.index(r.label) for r in readings])
    accuracy = (predicted == private_sample.labels).mean()
    # The card's ten-crop PrivateTest accuracy is ≥ 68%; on 70 faces, 3 standard deviations below that
    # is about 50%. Random weights score about 14%.
    assert accuracy >= 0.5, f"accuracy {accuracy:.0%} on 70 PrivateTest faces"
    happy = private_sample.labels == CLASS_NAMES.index("happy")
    assert (predicted[happy] == CLASS_NAMES.index("happy")).mean() >= 0.8


def test_shipped_model_places_real_faces_on_the_right_side_of_valence(private_sample, readings):
    valence = np.array([r.valence for r in readings])
    arousal = np.array([r.arousal for r in readings])
    names = np.array([CLASS_NAMES[c] for c in private_sample.labels])
    positive = names == "happy"
    negative = np.isin(names, list(NEGATIVE_VALENCE))
    agree = np.r_[valence[positive] > 0, valence[negative] < 0].mean()
    assert agree >= 0.75, f"valence sign agrees with the true class on {agree:.0%} of faces"
    assert arousal[names == "surprise"].mean() > arousal[names == "sad"].mean()
    assert valence[names == "happy"].mean() > valence[names == "neutral"].mean() > valence[names == "sad"].mean()


def test_card_figures_state_the_deduplicated_headline_beside_the_whole_split():
    card = json.loads(CARD_FIGURES.read_text())
    headline = card["headline"]
    assert (headline["split"], headline["view"], headline["deduplicated"]) == ("PrivateTest", "ten_crop", True)
    private = card["PrivateTest"]
    assert headline["accuracy"] == private["deduplicated"]["ten_crop_accuracy"]
    assert headline["whole_split_accuracy"] == private["ten_crop_accuracy"]
    low, high = headline["interval"]
    assert low < headline["accuracy"] < high
    dedup = private["deduplicated"]
    assert (
        dedup["n"]
        == private["n"]
        == dedup["exact"] + dedup["near"] + dedup["kept"]
        == headline["n"] + dedup["exact"] + dedup["near"]
    )
    assert "pixel-identical" in dedup["rule"]
    calibration = card["calibration"]
    assert calibration["temperature"] > 0 and "PublicTest" in calibration["source"]
    for split in ("PublicTest", "PrivateTest"):
        assert set(card[split]["ten_crop_calibration"]) >= {"ece_before", "ece_after"}
    human = card["human_vad_public_test_ten_crop"]
    assert human["n"] == 31 and 0 <= human["training_twins"] <= human["n"]
    for d in ("valence", "arousal", "dominance"):
        lo, hi = human[d]["pearson_interval"]
        assert lo <= human[d]["pearson"] <= hi


@pytest.mark.skipif(
    not (SHARED_DATA / "fer2013" / "fer2013.csv.gz").exists(),
    reason="needs ../shared/data/fer2013 (the full FER2013 PrivateTest split)",
)
@pytest.mark.slow
def test_evaluate_script_reproduces_the_cards_privatetest_figures(tmp_path):
    from vadcore.evaluate import main as evaluate_main

    card = json.loads(CARD_FIGURES.read_text())
    report = evaluate_main(["--data", str(SHARED_DATA), "--splits", "PrivateTest", "--out", str(tmp_path)])
    measured = report["splits"]["PrivateTest"]["ten_crop"]
    assert abs(measured["accuracy"] - card["PrivateTest"]["ten_crop_accuracy"]) <= 0.003
    assert abs(measured["deduplicated"]["accuracy"] - card["headline"]["accuracy"]) <= 0.003
    assert report["splits"]["PrivateTest"]["deduplication"]["kept"] == card["headline"]["n"]
    assert measured["deduplicated"]["accuracy"] >= 0.65
    assert abs(measured["calibration"]["ece_after"] - card["PrivateTest"]["ten_crop_calibration"]["ece_after"]) <= 0.003
    human = report["human_vad_public_test"]["ten_crop"]
    assert all(human[d]["pearson"] > 0 for d in ("valence", "arousal", "dominance"))
    assert (tmp_path / "reliability_PrivateTest.png").is_file()
