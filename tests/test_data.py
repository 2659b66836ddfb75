"""Loaders: the FER2013 CSV (plain and gzip), FER+ votes, the authors' VAD CSV, image folders, bad files."""

import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vadcore.data import DataFormatError, load_authors_vad_csv, load_fer2013, load_ferplus_votes, load_image_folder
from vadcore.taxonomy import HUMAN_VAD_SCALE

from helpers import AUTHORS_SAMPLE, FER_SAMPLE, VOTES_SAMPLE


def test_fer2013_sample_loads_gzip_and_plain_alike(tmp_path):
    table = load_fer2013(FER_SAMPLE)
    assert table.pixels.shape == (280, 48, 48) and table.pixels.dtype == np.uint8
    assert set(table.usage) == {"Training", "PrivateTest"}
    assert np.bincount(table.labels[table.usage == "PrivateTest"], minlength=7).tolist() == [10] * 7
    plain = tmp_path / "fer2013.csv"
    plain.write_bytes(gzip.decompress(FER_SAMPLE.read_bytes()))
    again = load_fer2013(plain)
    assert np.array_equal(again.pixels, table.pixels) and np.array_equal(again.fer_index, table.fer_index)


def test_csv_missing_columns_names_them(tmp_path):
    df = pd.read_csv(FER_SAMPLE).drop(columns=["Usage"])
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataFormatError, match="missing column.*Usage"):
        load_fer2013(path)


@pytest.mark.parametrize(
    "pixels, message",
    [
        ("300 " * 2304, "outside the integers 0…255"),
        ("-1 " * 2304, "outside the integers 0…255"),
        ("12 " * 100, "has 100 pixel values, expected 2304"),
        ("1.5 " * 2304, "outside the integers"),
    ],
)
def test_out_of_range_or_short_pixels_are_refused(tmp_path, pixels, message):
    df = pd.read_csv(FER_SAMPLE).head(3)
    df.loc[1, "pixels"] = pixels.strip()
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataFormatError, match=message):
        load_fer2013(path)


def test_bad_labels_and_splits_are_refused(tmp_path):
    df = pd.read_csv(FER_SAMPLE).head(3)
    df.loc[0, "emotion"] = 9
    df.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DataFormatError, match="emotion must be 0…6"):
        load_fer2013(tmp_path / "a.csv")
    df = pd.read_csv(FER_SAMPLE).head(3)
    df.loc[0, "Usage"] = "Validation"
    df.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataFormatError, match="unknown Usage"):
        load_fer2013(tmp_path / "b.csv")


def test_a_binary_file_is_not_a_csv(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(DataFormatError):
        load_fer2013(path)


def test_ferplus_sample_votes_land_on_their_rows():
    votes = load_ferplus_votes(VOTES_SAMPLE)
    table = load_fer2013(FER_SAMPLE)
    assert votes.shape[1] == 8
    assert (votes[table.fer_index].sum(1) > 0).all(), "every sampled face has its FER+ votes"


def test_authors_vad_csv_is_rescaled_to_model_scale(tmp_path):
    table = load_authors_vad_csv(AUTHORS_SAMPLE)
    raw = pd.read_csv(AUTHORS_SAMPLE)
    assert np.allclose(table.vad[:, 0], raw["Valence"] / HUMAN_VAD_SCALE)
    assert table.vad_is_human.all() and np.abs(table.vad).max() <= 1
    raw.loc[0, "Arousal"] = 5
    raw.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFormatError, match="Valence/Arousal/Dominance"):
        load_authors_vad_csv(tmp_path / "bad.csv")


def test_image_folder_layout(tmp_path):
    faces = load_fer2013(FER_SAMPLE)
    for i, (name, split) in enumerate([("happy", "train"), ("sad", "train"), ("happy", "test")]):
        d = tmp_path / split / name
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(faces.pixels[i]).resize((96, 96)).save(d / f"{i}.png")
    table = load_image_folder(tmp_path)
    assert table.pixels.shape == (3, 48, 48)
    assert sorted(table.usage) == ["test", "train", "train"]
    (tmp_path / "train" / "bored").mkdir()
    with pytest.raises(DataFormatError, match="folder name must be one of"):
        load_image_folder(tmp_path)
