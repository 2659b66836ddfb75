"""Real training on a committed sample of real FER2013 faces: loss falls, CLI runs, resume works."""

import json

import numpy as np
import pytest
import torch

from vadcore.checkpoint import load_model
from vadcore.data import load_authors_vad_csv, load_fer2013, load_ferplus_votes
from vadcore.losses import LossConfig, multitask_loss
from vadcore.model import ModelConfig, build_model
from vadcore.train import ResumeMismatch
from vadcore.train import main as train_main
from vadcore.transforms import center_crop, to_tensor
from vadcore.vad_targets import attach_vad_targets, calibrate_prior

from helpers import AUTHORS_SAMPLE, FER_SAMPLE, VOTES_SAMPLE, sample_data_dir


def _sample_batch(n: int = 64):
    fer = load_fer2013(FER_SAMPLE)
    human = load_authors_vad_csv(AUTHORS_SAMPLE)
    attach_vad_targets(fer, load_ferplus_votes(VOTES_SAMPLE), calibrate_prior(human), [human])
    pick = np.random.default_rng(0).choice(len(fer), n, replace=False)
    x = center_crop(to_tensor(fer.pixels[pick]), 44)
    return x, torch.as_tensor(fer.labels[pick]), torch.as_tensor(fer.vad[pick]).float()


@pytest.mark.slow
def test_multitask_loss_falls_on_real_faces():
    torch.manual_seed(0)
    x, y, v = _sample_batch()
    model = build_model(ModelConfig(stem="torchvision"))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    cfg = LossConfig(mode="vad", consistency="soft", lam=0.1)
    losses = []
    for _ in range(25):
        logits, vad = model(x)
        parts = multitask_loss(logits, vad, y, v, cfg)
        opt.zero_grad()
        parts["total"].backward()
        opt.step()
        losses.append({k: t.item() for k, t in parts.items()})
    assert losses[-1]["total"] < 0.6 * losses[0]["total"]
    assert losses[-1]["ce"] < losses[0]["ce"] and losses[-1]["mse"] < losses[0]["mse"]


def test_soft_consistency_moves_the_weights_and_paper_cost_does_not():
    torch.manual_seed(0)
    x, y, v = _sample_batch(16)
    for kind, expect_grad in (("soft", True), ("paper", False)):
        model = build_model(ModelConfig(stem="torchvision"))
        logits, vad = model(x)
        parts = multitask_loss(logits, vad, y, v, LossConfig(consistency=kind, lam=1.0))
        grad = (
            torch.autograd.grad(parts["consistency"], model.vad_head.weight, allow_unused=True)[0]
            if parts["consistency"].requires_grad
            else None
        )
        has_grad = grad is not None and grad.abs().sum().item() > 0
        assert has_grad == expect_grad, kind


def test_each_mode_trains_only_its_dimensions():
    x, y, v = _sample_batch(16)
    model = build_model(ModelConfig(stem="torchvision"))
    logits, vad = model(x)
    parts = multitask_loss(logits, vad, y, v, LossConfig(mode="a", consistency="none"))
    grad = torch.autograd.grad(parts["total"], model.vad_head.weight)[0]
    assert grad[1].abs().sum() > 0 and grad[0].abs().sum() == 0 and grad[2].abs().sum() == 0


def test_training_cli_smoke_writes_checkpoint_and_metrics_then_resumes(tmp_path):
    data = sample_data_dir(tmp_path / "data")
    out = tmp_path / "run"
    result = train_main(["--data", str(data), "--smoke", "--val-split", "PrivateTest", "--out", str(out)])
    assert (out / "model.pt").exists() and (out / "last.pt").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["human_labelled"] == 12
    assert "final_val" in metrics and 0 <= metrics["final_val"]["accuracy"] <= 1
    assert len(result["history"]) == 1


@pytest.mark.slow
def test_resume_continues_the_epoch_count(tmp_path):
    data = sample_data_dir(tmp_path / "data")
    out = tmp_path / "run"
    common = [
        "--data",
        str(data),
        "--stem",
        "torchvision",
        "--batch-size",
        "64",
        "--val-split",
        "PrivateTest",
        "--out",
        str(out),
        "--schedule",
        "onecycle",
    ]
    first = train_main(common + ["--epochs", "2", "--stop-after", "1"])
    assert [h["epoch"] for h in first["history"]] == [1] and not (out / "model.pt").exists()
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1  # plain: loads without running code
    result = train_main(common + ["--epochs", "2", "--resume"])
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert (out / "model.pt").exists()


@pytest.mark.slow
def test_fine_tuning_with_the_v2_recipe_changes_the_weights_and_refuses_a_resume_with_another_recipe(tmp_path):
    data = sample_data_dir(tmp_path / "data")
    first = tmp_path / "first"
    train_main(["--data", str(data), "--smoke", "--val-split", "PrivateTest", "--out", str(first)])
    out = tmp_path / "tuned"
    recipe = ["--data", str(data), "--smoke", "--val-split", "PrivateTest", "--out", str(out), "--init-from",
              str(first / "model.pt"), "--photometric", "0.8", "--degrade", "0.3", "--erase", "0.25",
              "--soft-target", "0.5", "--ema", "0.9"]  # fmt: skip
    result = train_main(recipe)
    start, tuned = load_model(first / "model.pt")[0], load_model(out / "model.pt")
    assert tuned[1]["training"]["recipe"]["soft_target"] == 0.5
    assert tuned[1]["training"]["initialised_from"] == load_model(first / "model.pt")[1]["model_version"]
    assert "val_acc_ema" in result["history"][0]
    moved = [(a - b).abs().max().item() for a, b in zip(start.parameters(), tuned[0].parameters())]
    assert max(moved) > 0
    with pytest.raises(ResumeMismatch, match="soft_target"):
        train_main([*recipe[:-4], "--soft-target", "0.2", "--ema", "0.9", "--resume"])
