"""Bootstrap intervals of accuracy and Pearson r, and the paired test of two models on the same faces."""

import numpy as np
import pytest

from vadcore.metrics import bootstrap_accuracy, bootstrap_pearson, mcnemar, paired_comparison


def test_accuracy_interval_holds_the_accuracy_narrows_with_more_faces_and_repeats_with_its_seed():
    rng = np.random.default_rng(1)
    small, large = rng.random(200) < 0.7, rng.random(5000) < 0.7
    s, big = bootstrap_accuracy(small), bootstrap_accuracy(large)
    assert s["low"] < s["accuracy"] < s["high"] and big["low"] < big["accuracy"] < big["high"]
    assert big["high"] - big["low"] < (s["high"] - s["low"]) / 3
    # binomial standard error at n=5000: 0.0065, so the 95% interval spans about ±1.3 points
    assert 0.02 < big["high"] - big["low"] < 0.032
    assert bootstrap_accuracy(small) == s
    assert bootstrap_accuracy(small, seed=2) != s


def test_pearson_interval_of_a_strong_relation_stays_high_and_of_noise_straddles_zero():
    rng = np.random.default_rng(3)
    x = rng.normal(size=31)
    strong = bootstrap_pearson(x, x + 0.3 * rng.normal(size=31))
    noise = bootstrap_pearson(x, rng.normal(size=31))
    assert 0.8 < strong["low"] < strong["pearson"] < strong["high"] <= 1
    assert noise["low"] < 0 < noise["high"]


def test_mcnemar_matches_the_binomial_tail_by_hand():
    # 12 discordant pairs split 10 / 2: P(X ≤ 2) for X ~ Bin(12, ½) = (1 + 12 + 66) / 4096
    m = mcnemar(10, 2)
    assert m["p_exact"] == pytest.approx(2 * 79 / 4096)
    assert m["p_mid"] == pytest.approx(2 * (79 - 33) / 4096)
    assert mcnemar(5, 5)["p_exact"] == 1.0 and mcnemar(0, 0)["p_mid"] == 1.0


def test_paired_comparison_sees_a_small_consistent_gain_that_separate_intervals_would_miss():
    rng = np.random.default_rng(4)
    b = rng.random(3000) < 0.68
    a = b.copy()
    fixed = np.flatnonzero(~b)[:60]  # a gets 60 more faces right, and loses none: +2 points
    a[fixed] = True
    r = paired_comparison(a, b)
    assert r["difference"] == pytest.approx(0.02)
    assert 0 < r["difference_low"] < 0.02 < r["difference_high"]
    assert r["mcnemar"]["b"] == 60 and r["mcnemar"]["c"] == 0 and r["mcnemar"]["p_exact"] < 1e-15
    sa, sb = bootstrap_accuracy(a), bootstrap_accuracy(b)
    assert sa["low"] < sb["high"]  # the separate intervals overlap


def test_paired_comparison_refuses_different_faces():
    with pytest.raises(ValueError, match="same faces"):
        paired_comparison(np.ones(3, bool), np.ones(4, bool))
