"""scripts/evaluate.py end to end on the committed sample: whole and deduplicated figures, calibration, the
paired comparison and the card's JSON."""

import gzip
import json

import pandas as pd
import pytest
import torch

from vadcore.checkpoint import read_checkpoint
from vadcore.evaluate import main as evaluate_main
from vadcore.evaluation_report import markdown_report
from vadcore.settings import SHIPPED_CHECKPOINT

from helpers import FER_SAMPLE, sample_data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The sample laid out like ../shared/data, with half its held-out faces moved to PublicTest (to fit a
    temperature on) and one Training face copied into PrivateTest (an exact twin)."""
    root = sample_data_dir(tmp_path_factory.mktemp("data"))
    df = pd.read_csv(FER_SAMPLE)
    held_out = df.index[df["Usage"] == "PrivateTest"]
    df.loc[held_out[::2], "Usage"] = "PublicTest"
    twin = df[df["Usage"] == "Training"].iloc[[0]].assign(Usage="PrivateTest")
    with gzip.open(root / "fer2013" / "fer2013.csv.gz", "wt") as f:
        pd.concat([df, twin], ignore_index=True).to_csv(f, index=False)
    return root


@pytest.mark.slow
def test_evaluation_states_whole_and_deduplicated_figures_and_writes_the_card(data_dir, tmp_path):
    payload = read_checkpoint(SHIPPED_CHECKPOINT)  # without its stored temperature: the run fits one
    payload.pop("calibration", None)
    raw = tmp_path / "raw.pt"
    torch.save(payload, raw)
    card_path = tmp_path / "card.json"
    report = evaluate_main(
        ["--data", str(data_dir), "--out", str(tmp_path / "out"), "--device", "cpu", "--checkpoint", str(raw)]
        + ["--compare", str(raw), "--write-card-json", str(card_path)]
    )
    private = report["splits"]["PrivateTest"]
    assert private["deduplication"] | {"rule": ""} == {
        "rule": "",
        "threshold": 0.95,
        "n": 36,
        "exact": 1,
        "near": 0,
        "kept": 35,
    }
    ten = private["ten_crop"]
    assert ten["deduplicated"]["n"] == 35 and ten["n"] == 36
    low, high = ten["deduplicated"]["accuracy_interval"]
    assert low <= ten["deduplicated"]["accuracy"] <= high
    assert "fitted in this run on PublicTest" in report["calibration"]["source"]
    assert report["calibration"]["temperature"] > 0
    same = report["compare"]["splits"]["PrivateTest"]["deduplicated"]
    assert same["difference"] == 0 and same["mcnemar"]["p_exact"] == 1.0  # the model against itself
    card = json.loads(card_path.read_text())
    assert card["headline"]["accuracy"] == round(ten["deduplicated"]["accuracy"], 4)
    assert card["PrivateTest"]["deduplicated"]["exact"] == 1
    md = markdown_report(report)
    assert "PrivateTest, deduplicated | 35 |" in md and "1 exact and 0 near duplicates of 36" in md
    assert (tmp_path / "out" / "reliability_PublicTest.png").is_file()
