"""Inference: batch, single-face and ten-crop paths agree; checkpoints refuse the wrong code."""

import numpy as np
import pytest
import torch

from vadcore.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from vadcore.data import load_fer2013
from vadcore.inference import EmotionPredictor, as_face_array, predict_arrays
from vadcore.model import ModelConfig, build_model
from vadcore.transforms import center_crop, ten_crop, to_tensor

from helpers import FER_SAMPLE


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(
        path,
        build_model(ModelConfig(stem="torchvision")),
        model_version="test-0",
        data_checksum="sample",
        training={"rules": "equations"},
    )
    return path


@pytest.fixture(scope="module")
def faces():
    return load_fer2013(FER_SAMPLE).pixels[:24]


def test_batch_and_single_face_inference_agree(checkpoint, faces):
    predictor = EmotionPredictor(checkpoint, device="cpu", batch_size=8)
    batch = predictor.predict(faces)
    for face, reading in zip(faces[:6], batch):
        alone = predictor.predict(face[None])[0]
        assert alone.label == reading.label
        assert alone.probabilities[alone.label] == pytest.approx(reading.probabilities[reading.label], abs=1e-5)
        assert alone.valence == pytest.approx(reading.valence, abs=1e-5)


def test_ten_crop_is_the_mean_over_the_ten_views(checkpoint, faces):
    model, _ = load_model(checkpoint)
    probs, vad = predict_arrays(model, faces[:4], use_ten_crop=True)
    views = ten_crop(to_tensor(faces[:4]), 44)
    with torch.no_grad():
        outs = [model(v) for v in views]
    expected_p = torch.stack([o[0].softmax(1) for o in outs]).mean(0).numpy()
    expected_v = torch.stack([o[1] for o in outs]).mean(0).clamp(-1, 1).numpy()
    assert np.allclose(probs, expected_p, atol=1e-5) and np.allclose(vad, expected_v, atol=1e-5)


def test_mirror_view_is_the_mean_of_the_centre_crop_and_its_mirror_image(checkpoint, faces):
    model, _ = load_model(checkpoint)
    probs, vad = predict_arrays(model, faces[:4], use_mirror=True)
    centre = center_crop(to_tensor(faces[:4]), 44)
    with torch.no_grad():
        outs = [model(v) for v in (centre, centre.flip(-1))]
    expected_p = torch.stack([o[0].softmax(1) for o in outs]).mean(0).numpy()
    assert np.allclose(probs, expected_p, atol=1e-5)
    single, _ = predict_arrays(model, faces[:4])
    assert not np.allclose(probs, single, atol=1e-4)  # the mirror view does change the reading
    predictor = EmotionPredictor(checkpoint, device="cpu")
    by_name = predictor.predict(faces[:4], views="mirror")
    assert [r.probabilities["happy"] for r in by_name] == pytest.approx(list(probs[:, 3]), abs=1e-5)
    with pytest.raises(ValueError, match="views"):
        predictor.predict(faces[:1], views="twenty_crop")


def test_readings_are_well_formed(checkpoint, faces):
    r = EmotionPredictor(checkpoint, device="cpu").predict(faces[:3], boxes=[(1, 2, 3, 4)] * 3)[0]
    assert sum(r.probabilities.values()) == pytest.approx(1, abs=1e-5)
    assert r.confidence == max(r.probabilities.values()) and r.box == (1, 2, 3, 4)
    assert all(-1 <= x <= 1 for x in (r.valence, r.arousal, r.dominance))
    assert r.model_version == "test-0"


def test_faces_of_any_size_and_colour_are_accepted_and_bad_ones_refused():
    arr = as_face_array([np.zeros((120, 100, 3), np.uint8), np.full((30, 30), 200, np.uint8)])
    assert arr.shape == (2, 48, 48) and arr[1].min() == 200
    with pytest.raises(ValueError, match="H×W"):
        as_face_array([np.zeros((0, 10), np.uint8)])


def test_checkpoint_refuses_a_config_that_does_not_match_the_code(checkpoint, tmp_path):
    payload = torch.load(checkpoint, weights_only=False)
    payload["config"]["attention_heads"] = 4
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="config does not match this code.*attention_heads"):
        load_model(tmp_path / "future.pt")
    payload = torch.load(checkpoint, weights_only=False)
    payload["class_names"] = ["happy", "sad"]
    torch.save(payload, tmp_path / "classes.pt")
    with pytest.raises(CheckpointError, match="trained with classes"):
        read_checkpoint(tmp_path / "classes.pt")
    payload = torch.load(checkpoint, weights_only=False)
    payload["config"]["stem"] = "paper"  # weights of a 7×7 stem into a 3×3 stem
    torch.save(payload, tmp_path / "shapes.pt")
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_model(tmp_path / "shapes.pt")


def test_a_config_saved_before_a_field_existed_loads_with_that_fields_default(checkpoint, tmp_path):
    payload = torch.load(checkpoint, weights_only=False)
    del payload["config"]["backbone"], payload["config"]["vad_bounded"]  # as saved by older code
    torch.save(payload, tmp_path / "older.pt")
    model, _ = load_model(tmp_path / "older.pt")
    assert model.config == ModelConfig(stem="torchvision")
    assert model.config.backbone == "resnet18" and model.config.vad_bounded is False


def test_an_unsupported_backbone_is_refused_with_its_name(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="backbone must be one of.*'resnet50'"):
        ModelConfig(backbone="resnet50")
    payload = torch.load(checkpoint, weights_only=False)
    payload["config"]["backbone"] = "resnet50"
    torch.save(payload, tmp_path / "r50.pt")
    with pytest.raises(CheckpointError, match="backbone must be one of"):
        load_model(tmp_path / "r50.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_non_checkpoint_files_get_a_clear_error(tmp_path, checkpoint, content):
    path = tmp_path / "x.pt"
    if content is None:  # a truncated real checkpoint
        path.write_bytes(checkpoint.read_bytes()[:4096])
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_model(path)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_model(tmp_path / "missing.pt")


class _Planted:
    """A pickle payload: unpickling it calls open(path, "w"), which creates the file (as a real attack would
    run a shell command)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import builtins

        return (builtins.open, (self.path, "w"))


def test_a_checkpoint_with_a_planted_pickle_payload_is_refused_and_not_run(checkpoint, tmp_path):
    marker = tmp_path / "planted-code-ran"
    payload = torch.load(checkpoint, weights_only=True)  # the saving side writes plain metadata only
    payload["training"]["note"] = _Planted(marker)
    torch.save(payload, tmp_path / "planted.pt")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="objects other than weights and plain metadata.*refused"):
        load_model(tmp_path / "planted.pt")
    with pytest.raises(CheckpointError, match="io.open|builtins.open"):
        read_checkpoint(tmp_path / "planted.pt")
    assert not marker.exists()  # the payload was refused before it could run


def test_checkpoint_metadata_is_saved_as_plain_types(tmp_path):
    from pathlib import Path

    from vadcore.checkpoint import plain

    path = tmp_path / "m.pt"
    training = {"lambda": np.float32(0.5), "epochs": np.int64(3), "out": Path("runs/x"), "sizes": (1, 2)}
    save_checkpoint(
        path, build_model(ModelConfig(stem="torchvision")), model_version="t", data_checksum="c", training=training
    )
    meta = read_checkpoint(path)  # weights_only=True: would refuse numpy scalars or a Path
    assert meta["training"] == {"lambda": 0.5, "epochs": 3, "out": "runs/x", "sizes": [1, 2]}
    assert type(meta["training"]["epochs"]) is int
    with pytest.raises(TypeError, match="plain data"):
        plain({"x": object()})


def test_the_shipped_checkpoint_loads_with_weights_only_and_unchanged_weights():
    from vadcore.settings import SHIPPED_CHECKPOINT

    if not SHIPPED_CHECKPOINT.exists():
        pytest.skip(f"{SHIPPED_CHECKPOINT} is absent")
    safe = read_checkpoint(SHIPPED_CHECKPOINT)["state_dict"]
    full = torch.load(SHIPPED_CHECKPOINT, map_location="cpu", weights_only=False)["state_dict"]
    assert safe.keys() == full.keys()
    assert all(torch.equal(safe[k], full[k]) for k in full)
