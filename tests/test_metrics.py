"""Metrics on hand-checkable inputs."""

import numpy as np
import pytest

from vadcore.metrics import ccc, classification_metrics, paper_average_loss, regression_metrics


def test_ccc_is_one_for_agreement_and_penalises_bias_that_pearson_ignores():
    x = np.array([-0.5, 0.0, 0.5, 1.0])
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, x + 0.5) < 0.8
    assert regression_metrics(np.c_[x, x, x], np.c_[x + 0.5, x, x])["valence"]["pearson"] == pytest.approx(1)


def test_paper_average_loss_is_batch_mean_mse_summed_over_batches_over_n():
    pred = np.zeros(20)
    target = np.full(20, 0.5)  # 1.0 on the authors' −2…+2 scale
    # two batches (16 + 4), each with mean squared error 1.0 → (1 + 1) / 20
    assert paper_average_loss(pred, target) == pytest.approx(0.1)


def test_confusion_matrix_rows_are_true_classes():
    m = classification_metrics(np.array([0, 0, 3, 3]), np.array([0, 3, 3, 3]))
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"][0][3] == 1 and m["recall"]["angry"] == 0.5 and m["recall"]["happy"] == 1.0
