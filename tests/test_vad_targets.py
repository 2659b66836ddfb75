"""Derived VAD targets: prior signs, calibration toward human labels, votes, human labels winning."""

import numpy as np
import pytest

from vadcore.data import load_authors_vad_csv, load_fer2013, load_ferplus_votes
from vadcore.vad_targets import RUSSELL_MEHRABIAN_PAD, attach_vad_targets, calibrate_prior, vote_distribution

from helpers import AUTHORS_SAMPLE, FER_SAMPLE, VOTES_SAMPLE

HAPPY, SAD, NEUTRAL = 3, 4, 6


def test_prior_signs_agree_with_the_papers_equations():
    prior = calibrate_prior(load_authors_vad_csv(AUTHORS_SAMPLE))
    assert prior.sign_check("equations") == []


def test_calibration_moves_each_prototype_toward_the_human_mean_only():
    human = load_authors_vad_csv(AUTHORS_SAMPLE)
    prior = calibrate_prior(human)
    for c in range(7):
        rows = human.vad[human.labels == c]
        if len(rows):
            before = np.abs(RUSSELL_MEHRABIAN_PAD[c] - rows.mean(0))
            after = np.abs(prior.prototypes[c] - rows.mean(0))
            assert (after <= before + 1e-6).all()
        else:
            assert np.allclose(prior.prototypes[c], RUSSELL_MEHRABIAN_PAD[c])


def test_ambiguous_votes_give_in_between_targets():
    prior = calibrate_prior(load_authors_vad_csv(AUTHORS_SAMPLE))
    mixed = prior.expected(np.array([[0, 0, 0, 0.5, 0.5, 0, 0]], np.float32))[0]
    assert mixed[0] == pytest.approx((prior.prototypes[HAPPY, 0] + prior.prototypes[SAD, 0]) / 2)
    assert prior.prototypes[SAD, 0] < mixed[0] < prior.prototypes[HAPPY, 0]


def test_votes_drop_contempt_and_fall_back_to_the_label():
    votes = np.array([[0, 0, 0, 0, 0, 0, 0, 10], [5, 5, 0, 0, 0, 0, 0, 0]], np.float32)  # contempt only
    probs = vote_distribution(votes, np.array([0, 1]), np.array([SAD, HAPPY]))
    assert probs[0, SAD] == 1.0
    assert probs[1, NEUTRAL] == 0.5 and probs[1, HAPPY] == 0.5


def test_human_labels_win_over_the_prior():
    fer = load_fer2013(FER_SAMPLE)
    human = load_authors_vad_csv(AUTHORS_SAMPLE)
    counts = attach_vad_targets(fer, load_ferplus_votes(VOTES_SAMPLE), calibrate_prior(human), [human])
    assert counts["human_labelled"] == len(human) == fer.vad_is_human.sum()
    labelled = {p.tobytes(): v for p, v in zip(human.pixels, human.vad)}
    for p, v, is_human in zip(fer.pixels, fer.vad, fer.vad_is_human):
        if is_human:
            assert np.allclose(v, labelled[p.tobytes()])
    assert not np.isnan(fer.vad).any() and np.abs(fer.vad).max() <= 1
