"""Weight interpolation between a model and its fine-tune: the ends are the models themselves, the middle lies
between them, and models of different shapes are refused."""

import copy

import numpy as np
import pytest
import torch

from vadcore.checkpoint import load_model
from vadcore.inference import predict_arrays
from vadcore.model import ModelConfig, build_model
from vadcore.weight_averaging import interpolate_weights


@pytest.fixture(scope="module")
def shipped_and_nudged():
    start, _ = load_model()
    end = copy.deepcopy(start)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a stand-in for a fine-tune: every weight moved a little
        for p in end.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=generator))
    return start, end


def test_alpha_zero_and_one_give_back_the_two_models(shipped_and_nudged):
    start, end = shipped_and_nudged
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    for alpha, same_as in ((0.0, start), (1.0, end)):
        probs, vad = predict_arrays(interpolate_weights(start, end, alpha), faces)
        want_probs, want_vad = predict_arrays(same_as, faces)
        np.testing.assert_allclose(probs, want_probs, atol=1e-5)
        np.testing.assert_allclose(vad, want_vad, atol=1e-5)


def test_the_midpoint_has_the_mean_of_every_weight(shipped_and_nudged):
    start, end = shipped_and_nudged
    middle = interpolate_weights(start, end, 0.5).state_dict()
    for key, value in start.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(middle[key], (value + end.state_dict()[key]) / 2)


def test_models_of_different_shapes_are_refused(shipped_and_nudged):
    start, _ = shipped_and_nudged
    other = build_model(ModelConfig(stem="paper"))
    with pytest.raises(ValueError, match="different configs"):
        interpolate_weights(start, other, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        interpolate_weights(start, start, 1.5)
