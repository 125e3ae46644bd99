"""keras_pilot (how a Keras model sees), myconfig.py read as data, pilot files, and `pilotlens import`."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from conftest import assert_rel_close

from pilotlens.cli import import_ as import_verb
from pilotlens.models.keras import read_myconfig
from pilotlens.models.keras.pilot import keras_pilot
from pilotlens.models.keras.verb import import_keras
from pilotlens.models.pilot import Pilot

from . import keras_cases as K

FRAMES = np.random.default_rng(0).integers(0, 256, (4, 30, 40, 3), dtype=np.uint8)


def _keras_on_pixels(km, frames: np.ndarray, scale: float) -> torch.Tensor:
    """Keras's own outputs (concatenated) on uint8 RGB frames scaled as donkeycar does."""
    x = torch.from_numpy(frames.astype(np.float32) * np.float32(scale))
    return torch.cat([o.detach().reshape(len(frames), -1) for o in K.keras_outputs(km, x)], dim=1)


def _pilot_columns(pilot: Pilot, frames) -> torch.Tensor:
    with torch.no_grad():
        return pilot.forward(pilot.prepare(frames))


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    km = K.donkey_linear()
    return km, K.save(km, tmp_path_factory.mktemp("linear"), "mypilot")


def _myconfig(tmp_path, text: str):
    path = tmp_path / "myconfig.py"
    path.write_text(text)
    return path


def test_donkeycar_linear_pilot_sees_as_donkeycar(linear):
    km, paths = linear
    pilot = keras_pilot(paths["h5"])
    assert pilot.input_size == (40, 30) and pilot.color == "rgb" and pilot.scale == pytest.approx(1 / 255)
    assert pilot.outputs == ("angle", "throttle") and pilot.crop == (0, 0, 0, 0) and pilot.arch == "keras"
    assert_rel_close(_pilot_columns(pilot, FRAMES), _keras_on_pixels(km, FRAMES, 1 / 255))


def test_myconfig_roi_cut_in_the_pipeline_as_donkeycar_3(tmp_path):
    """donkeycar 3.x cut ROI rows off the frame and built the model for the cut size: the pilot cuts."""
    km = K.donkey_linear(crop=None)
    path = K.save(km, tmp_path, "old")["h5"]
    frames = np.random.default_rng(1).integers(0, 256, (3, 38, 40, 3), dtype=np.uint8)
    config = _myconfig(tmp_path, "IMAGE_W = 40\nIMAGE_H = 38\nROI_CROP_TOP = 6\nROI_CROP_BOTTOM = 2\n")
    pilot = keras_pilot(path, myconfig=config)
    assert pilot.crop == (6, 2, 0, 0)
    assert_rel_close(_pilot_columns(pilot, frames), _keras_on_pixels(km, frames[:, 6:-2], 1 / 255))


def test_myconfig_crop_transformation_masks_the_border_as_donkeycar_5(tmp_path):
    """donkeycar 5's "CROP" transformation (ImgCropMask) blacks the border out and keeps the size."""
    km = K.donkey_linear(crop=None)
    path = K.save(km, tmp_path, "new")["keras"]
    config = _myconfig(tmp_path, "IMAGE_W = 40\nIMAGE_H = 30\nROI_CROP_TOP = 6\nROI_CROP_LEFT = 3\n"
                                 "TRANSFORMATIONS = ['CROP']\n")
    pilot = keras_pilot(path, myconfig=config)
    assert pilot.crop == (0, 0, 0, 0) and pilot.input_size == (40, 30)
    masked = FRAMES.copy()
    masked[:, :6] = 0
    masked[:, :, :3] = 0
    expected = _keras_on_pixels(km, masked, 1 / 255)
    assert_rel_close(_pilot_columns(pilot, FRAMES), expected)
    assert not torch.allclose(_keras_on_pixels(km, FRAMES, 1 / 255), expected)  # the mask matters here
    out = tmp_path / "new.pt"
    pilot.save(out)
    assert_rel_close(_pilot_columns(Pilot.load(out), FRAMES), expected)


def test_myconfig_roi_unused_without_the_crop_transformation(linear, tmp_path):
    """A whole-frame model and no "CROP" step: the ROI settings were not used by donkeycar either; a
    Cropping2D inside the model is the model's own and runs anyway (nothing is cropped twice)."""
    km, paths = linear
    config = _myconfig(tmp_path, "IMAGE_W = 40\nIMAGE_H = 30\nROI_CROP_TOP = 6\nROI_CROP_BOTTOM = 2\n")
    pilot = keras_pilot(paths["keras"], myconfig=config)
    assert pilot.crop == (0, 0, 0, 0) and not hasattr(pilot.model, "donkeycar_crop_mask")
    assert_rel_close(_pilot_columns(pilot, FRAMES), _keras_on_pixels(km, FRAMES, 1 / 255))


def test_myconfig_that_fits_neither_way_or_asks_for_other_transformations(linear, tmp_path):
    _, paths = linear
    with pytest.raises(ValueError, match="neither the cut nor the whole frame fits"):
        keras_pilot(paths["h5"], myconfig=_myconfig(tmp_path, "ROI_CROP_TOP = 6\n"))  # 160x120 frames by default
    with pytest.raises(ValueError, match="TRAPEZE"):
        keras_pilot(paths["h5"], myconfig=_myconfig(tmp_path, "TRANSFORMATIONS = ['CROP', 'TRAPEZE']\n"))


def test_myconfig_roi_taller_than_the_frame_is_refused_not_a_black_frame(tmp_path):
    """ROI_CROP_TOP beyond IMAGE_H with "CROP" would black out the whole frame (the model explains a
    black image, output constant, no word): refused, naming the settings."""
    path = K.save(K.donkey_linear(crop=None), tmp_path, "new")["keras"]
    for text in ("ROI_CROP_TOP = 200\n", "ROI_CROP_TOP = 20\nROI_CROP_BOTTOM = 10\n", "ROI_CROP_LEFT = 40\n"):
        config = _myconfig(tmp_path, "IMAGE_W = 40\nIMAGE_H = 30\n" + text + "TRANSFORMATIONS = ['CROP']\n")
        with pytest.raises(ValueError, match="leave nothing of the 40x30 frame"):
            keras_pilot(path, myconfig=config)


def test_explicit_crop_wins(linear):
    assert keras_pilot(linear[1]["h5"], crop=(1, 2, 3, 4)).crop == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="crop must be 4"):
        keras_pilot(linear[1]["h5"], crop=(1, 2))


def test_myconfig_is_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = _myconfig(tmp_path, f"import os\nos.system('touch {marker}')\nIMAGE_W = 160\nIMAGE_H = IMAGE_W * 2\n"
                               f"ROI_CROP_TOP = 40\nMODEL_CATEGORICAL_MAX_THROTTLE_RANGE: float = 0.8\n"
                               f"X = open('{marker}', 'w')\nROI_CROP_TOP = 45\n")
    values = read_myconfig(path)
    assert not marker.exists()
    assert values == {"IMAGE_W": 160, "ROI_CROP_TOP": 45, "MODEL_CATEGORICAL_MAX_THROTTLE_RANGE": 0.8}
    bad = _myconfig(tmp_path, "ROI_CROP_TOP = (\n")
    with pytest.raises(ValueError, match="not a readable Python config"):
        read_myconfig(bad)


def test_categorical_pilot_predicts_donkeycar_values_with_myconfig_throttle_range(tmp_path):
    km = K.donkey_categorical()
    path = K.save(km, tmp_path, "cat")["keras"]
    pilot = keras_pilot(path, myconfig=_myconfig(tmp_path, "MODEL_CATEGORICAL_MAX_THROTTLE_RANGE = 0.8\n"))
    probs = _keras_on_pixels(km, FRAMES, 1 / 255).numpy()
    got = pilot.predict(FRAMES)
    np.testing.assert_allclose(got["angle"], probs[:, :15].argmax(1) * (2 / 14) - 1, atol=1e-6)
    np.testing.assert_allclose(got["throttle"], probs[:, 15:].argmax(1) * (0.8 / 20), atol=1e-6)


def test_a_model_that_normalises_itself_takes_raw_pixels(tmp_path):
    km = K.pilotnet()
    pilot = keras_pilot(K.save(km, tmp_path, "pn")["h5"])
    assert pilot.scale == 1.0 and pilot.outputs == ("steering",) and pilot.input_size == (60, 33)
    frames = np.random.default_rng(2).integers(0, 256, (2, 33, 60, 3), dtype=np.uint8)
    assert_rel_close(_pilot_columns(pilot, frames), _keras_on_pixels(km, frames, 1.0))


@pytest.mark.parametrize("name", ["donkey_linear", "donkey_categorical", "udacity"])
def test_converted_pilot_saves_and_loads_with_weights_only(tmp_path, name):
    km = K.CASES[name]()
    src = K.save(km, tmp_path, name)["keras"]
    out = tmp_path / f"{name}.pt"
    pilot = import_keras(src, out)
    data = torch.load(out, weights_only=True)  # plain data and tensors only
    assert data["arch"] == "keras" and data["arch_kwargs"]["graph"]["layers"]
    loaded = Pilot.load(out)
    assert type(loaded.model) is type(pilot.model)
    assert [n for n, _ in loaded.model.named_modules()] == [n for n, _ in pilot.model.named_modules()]
    assert (loaded.input_size, loaded.crop, loaded.scale, loaded.outputs) == \
        (pilot.input_size, pilot.crop, pilot.scale, pilot.outputs)
    frames = np.random.default_rng(3).integers(0, 256, (2, pilot.input_size[1], pilot.input_size[0], 3), dtype=np.uint8)
    assert torch.equal(_pilot_columns(loaded, frames), _pilot_columns(pilot, frames))
    for key, value in pilot.predict(frames).items():
        np.testing.assert_array_equal(loaded.predict(frames)[key], value)


def test_import_refuses_to_overwrite_its_input_or_write_another_suffix(linear, tmp_path):
    src = linear[1]["h5"]
    before = open(src, "rb").read()
    with pytest.raises(ValueError, match=r"must end in \.pt"):
        import_keras(src, src)
    assert open(src, "rb").read() == before
    with pytest.raises(ValueError, match=r"must end in \.pt"):
        import_keras(src, tmp_path / "x.h5")


def test_import_verb(tmp_path):
    km = K.pilotnet(lambda_layer=True)
    src = K.save(km, tmp_path, "pn")["h5"]
    parser = argparse.ArgumentParser()
    import_verb.register(parser.add_subparsers(dest="verb"))
    out = tmp_path / "pn.pt"
    args = parser.parse_args(["import", src, "--out", str(out), "--crop", "2,1,0,0",
                              "--lambda", f"normalize={1 / 127.5!r},-1"])
    args.fn(args)
    pilot = Pilot.load(out)
    assert pilot.crop == (2, 1, 0, 0) and pilot.scale == 1.0
    frames = np.random.default_rng(4).integers(0, 256, (2, 36, 60, 3), dtype=np.uint8)
    assert_rel_close(_pilot_columns(pilot, frames), _keras_on_pixels(km, frames[:, 2:-1], 1.0))
