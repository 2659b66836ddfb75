"""Test faces that copy a Training face, exactly or as the same photo recropped or watermarked, are found."""

import numpy as np
import pytest
from PIL import Image

from vadcore.data import FaceTable, fer_csv_path, load_fer2013, load_fer2013_cached
from vadcore.dedup import training_duplicates

from helpers import FER_SAMPLE, SHARED_DATA


def _recropped(face: np.ndarray) -> np.ndarray:
    """The same photo cut one pixel tighter on every side and scaled back to 48×48."""
    return np.asarray(Image.fromarray(face[1:47, 1:47]).resize((48, 48), Image.Resampling.BILINEAR))


def _watermarked(face: np.ndarray) -> np.ndarray:
    """A faint white banner over the chin, and the whole face dimmed and lifted."""
    out = face.astype(np.float64)
    out[42:46, 30:46] = 0.6 * out[42:46, 30:46] + 0.4 * 255
    return np.clip(out * 0.7 + 30, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def table():
    """Training: the sample's 210 Training faces; PrivateTest: a copy, a recrop and a watermarked version of
    Training faces, then two unrelated PrivateTest faces of the sample."""
    sample = load_fer2013(FER_SAMPLE)
    train = sample.split("Training")
    other = sample.split("PrivateTest").pixels[:2]
    tests = np.stack([train.pixels[3], _recropped(train.pixels[5]), _watermarked(train.pixels[17]), *other])
    n_train, n_test = len(train), len(tests)
    return FaceTable(
        np.concatenate([train.pixels, tests]),
        np.zeros(n_train + n_test, np.int64),
        np.array(["Training"] * n_train + ["PrivateTest"] * n_test, dtype=object),
        np.full(n_train + n_test, -1, np.int64),
    )


def test_copies_recrops_and_watermarks_of_training_faces_are_found(table, tmp_path):
    report = training_duplicates(table, "PrivateTest", cache_dir=tmp_path)
    assert report.exact.tolist() == [True, False, False, False, False]
    assert report.near.tolist() == [False, True, True, False, False]
    assert report.keep.tolist() == [False, False, False, True, True]
    assert report.counts == {"n": 5, "exact": 1, "near": 2, "kept": 2}
    assert "0.95" in report.rule and "pixel-identical" in report.rule


def test_a_stricter_threshold_keeps_more_faces_and_reuses_the_cache(table, tmp_path):
    loose = training_duplicates(table, "PrivateTest", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("dedup.PrivateTest.*.npz"))) == 1
    strict = training_duplicates(table, "PrivateTest", threshold=0.999, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("dedup.PrivateTest.*.npz"))) == 1
    assert np.array_equal(strict.similarity, loose.similarity)
    assert strict.counts["kept"] == 4 and strict.exact[0]


def test_training_itself_cannot_be_deduplicated_against_training(table):
    with pytest.raises(ValueError, match="must not be Training"):
        training_duplicates(table, "Training", cache_dir=None)


@pytest.mark.skipif(
    not (SHARED_DATA / "fer2013" / "fer2013.csv.gz").exists(),
    reason="needs ../shared/data/fer2013 (the full FER2013 splits)",
)
@pytest.mark.slow
def test_full_privatetest_has_288_exact_and_461_duplicates_in_all():
    fer = load_fer2013_cached(fer_csv_path(SHARED_DATA))
    report = training_duplicates(fer, "PrivateTest")
    assert report.counts == {"n": 3573, "exact": 288, "near": 173, "kept": 3112}
    private = fer.split("PrivateTest")
    train = fer.split("Training")
    train_label = {p.tobytes(): label for p, label in zip(train.pixels, train.labels)}
    twins = zip(private.pixels[report.exact], private.labels[report.exact])
    assert all(train_label[p.tobytes()] == label for p, label in twins)  # issue 9: twins keep their label
