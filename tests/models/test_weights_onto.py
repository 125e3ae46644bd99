"""Weights-only Keras files onto an architecture: the zoo's PilotNet, a user's class, a Keras JSON file.

The reference is Keras itself (Keras 3 on the torch backend): a model with the architecture is built
and randomised, its weights written by Keras as Keras 2's `save_weights("x.h5")` laid them out (layer
groups at the root, `layer_names`, `weight_names`: Keras 3 keeps that writer as
legacy_h5_format.save_weights_to_hdf5_group) and as Keras 3's own `x.weights.h5`; its predictions
are compared with the torch module's after loading.
"""
from __future__ import annotations

import textwrap

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_rel_close
from torch import nn

from pilotlens.models.keras import load_keras_model
from pilotlens.models.weights_onto import WeightsMismatch, load_weights_onto, weights_pilot
from pilotlens.models.zoo import PilotNet

from . import keras_cases as K
from .test_keras1 import RNG, reference, write_keras1_h5

keras = K.keras
L = K.L
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402


def save_keras2_weights(km, path) -> None:
    """Keras 2's save_weights("x.h5") layout, written by Keras (the legacy writer Keras 3 keeps)."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, km)


def keras_pilotnet(dense1: int = 100):
    """The zoo PilotNet's architecture in Keras: x/127.5 - 1, conv 24/36/48 5x5 s2, 64/64 3x3, dense 100/50/10/1."""
    K._seed(5)
    model = keras.Sequential([
        keras.Input((66, 200, 3)), L.Rescaling(1 / 127.5, offset=-1.0),
        L.Conv2D(24, 5, strides=2, activation="relu"), L.Conv2D(36, 5, strides=2, activation="relu"),
        L.Conv2D(48, 5, strides=2, activation="relu"), L.Conv2D(64, 3, activation="relu"),
        L.Conv2D(64, 3, activation="relu"), L.Flatten(), L.Dense(dense1, activation="relu"),
        L.Dense(50, activation="relu"), L.Dense(10, activation="relu"), L.Dense(1)])
    K._randomise(model, 5)
    return model


def _compare(km, module, batch=2, high=255.0, seed=0):
    x = K.inputs(km, batch=batch, seed=seed, high=high)
    ref = K.keras_outputs(km, x)[0].detach()
    assert (ref.std(dim=0) > 0).any(), "the reference output is the same for every input: proves little"
    with torch.no_grad():
        assert_rel_close(module(K.nchw(x)), ref)


@pytest.fixture(scope="module")
def pilotnet_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pilotnet")
    km = keras_pilotnet()
    save_keras2_weights(km, folder / "nvidia.h5")
    km.save_weights(folder / "nvidia.weights.h5")
    return km, folder


@pytest.mark.parametrize("name", ["nvidia.h5", "nvidia.weights.h5"])
def test_onto_the_zoo_pilotnet_equals_keras(pilotnet_files, name):
    km, folder = pilotnet_files
    module = PilotNet()
    report = load_weights_onto(module, folder / name)
    _compare(km, module)
    assert [p.module_layer for p in report.pairs] == [f"features.conv{i}" for i in range(1, 6)] + [
        f"head.{n}" for n in ("fc1", "fc2", "fc3", "out")]
    fc1 = next(p for p in report.pairs if p.module_layer == "head.fc1")
    assert "64x1x18" in fc1.layout  # the rows were reordered for Keras's channels-last flatten


def test_the_flatten_permutation_matters(pilotnet_files):
    """Without the row permutation the outputs differ: the test above could not pass by luck."""
    km, folder = pilotnet_files
    module = PilotNet()
    load_weights_onto(module, folder / "nvidia.h5")
    x = K.nchw(K.inputs(km, batch=2, high=255.0))
    with torch.no_grad():
        good = module(x)
        w = module.head.fc1.weight.reshape(100, 64, 1, 18).permute(0, 2, 3, 1).reshape(100, -1)  # undo it
        module.head.fc1.weight.copy_(w)
        assert not torch.allclose(module(x), good, rtol=1e-3, atol=1e-4)


def test_weights_pilot_for_a_zoo_name(pilotnet_files):
    km, folder = pilotnet_files
    pilot = weights_pilot("pilotnet", folder / "nvidia.h5")
    _compare(km, pilot.model)
    assert pilot.arch == "pilotnet" and pilot.input_size == (200, 66)
    assert any("scales its input inside" in n for n in pilot.weights_report.notes)


USER_CLASS = '''
import torch
from torch import nn

class MyNet(nn.Module):
    """Declared head first (registration order is not run order); flatten done in forward."""
    input_size = (30, 22)

    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(6 * 8 * 12, 8), nn.Tanh(), nn.Linear(8, 2))
        self.conv_a = nn.Conv2d(3, 4, 3, stride=2)
        self.bn = nn.BatchNorm2d(4, eps=1e-3)
        self.conv_b = nn.Conv2d(4, 6, 3)

    def forward(self, x):
        x = torch.relu(self.conv_b(nn.functional.elu(self.bn(self.conv_a(x)))))
        return self.head(torch.flatten(x, 1))
'''


def keras_user_twin():
    K._seed(6)
    model = keras.Sequential([
        keras.Input((22, 30, 3)), L.Conv2D(4, 3, strides=2), L.BatchNormalization(), L.ELU(),
        L.Conv2D(6, 3, activation="relu"), L.Flatten(), L.Dense(8, activation="tanh"), L.Dense(2)])
    K._randomise(model, 6)
    return model


def test_onto_a_user_class_equals_keras(tmp_path):
    (tmp_path / "mynet.py").write_text(textwrap.dedent(USER_CLASS))
    km = keras_user_twin()
    save_keras2_weights(km, tmp_path / "w.h5")
    pilot = weights_pilot(f"{tmp_path / 'mynet.py'}:MyNet", tmp_path / "w.h5")
    _compare(km, pilot.model, high=1.0)
    assert [p.module_layer for p in pilot.weights_report.pairs] == ["conv_a", "bn", "conv_b", "head.0", "head.2"]
    assert not pilot.weights_report.notes  # eps 1e-3 as Keras's


def test_json_architecture_with_weights_equals_keras(tmp_path):
    km = K.udacity()  # functional, two outputs, BN, 'same' padding, pooling, concatenation
    (tmp_path / "arch.json").write_text(km.to_json())
    save_keras2_weights(km, tmp_path / "w.h5")
    km.save_weights(tmp_path / "w.weights.h5")
    x = K.inputs(km, batch=3)
    ref = K.keras_outputs(km, x)
    for weights in ("w.h5", "w.weights.h5"):
        model = load_keras_model(tmp_path / "arch.json", weights=tmp_path / weights)
        for o, r in zip(K.as_list(model(K.nchw(x))), ref):
            assert_rel_close(o, r.detach())
    pilot = weights_pilot(tmp_path / "arch.json", tmp_path / "w.h5")
    assert pilot.arch == "keras" and pilot.input_size == (32, 24)


def test_keras1_th_theano_weights_onto_a_class(tmp_path):
    """A Keras 1 weights-only file, dim_ordering th, saved under Theano: kernels stored (out, in, h, w),
    flipped, the flatten in C, H, W order; checked against the numpy reference of test_keras1."""
    from .test_keras1 import conv1, layer
    layers = [conv1("convolution2d_1", 4, 3, 2, "valid", "relu", "th", batch_input_shape=[None, 3, 12, 14]),
              layer("Flatten", "flatten_1"), layer("Dense", "dense_1", output_dim=2, activation="linear")]
    weights = {"convolution2d_1": [("W", RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)),
                                   ("b", RNG.normal(0, 0.1, 4).astype(np.float32))],
               "dense_1": [("W", RNG.normal(0, 0.2, (4 * 5 * 6, 2)).astype(np.float32)),
                           ("b", RNG.normal(0, 0.1, 2).astype(np.float32))]}
    write_keras1_h5(tmp_path / "full.h5", layers, weights, backend="theano")
    with h5py.File(tmp_path / "full.h5") as src, h5py.File(tmp_path / "w.h5", "w") as dst:
        for k, v in src["model_weights"].attrs.items():  # save_weights: the same groups at the root
            dst.attrs[k] = v
        for name in src["model_weights"]:
            src.copy(src["model_weights"][name], dst, name)
    module = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(120, 2))
    report = load_weights_onto(module, tmp_path / "w.h5", input_size=(14, 12))
    assert report.pairs[0].layout == "oihw" and any("Theano" in n for n in report.notes)
    x = np.random.default_rng(1).uniform(0, 1, (3, 3, 12, 14)).astype(np.float32)
    with torch.no_grad():
        ours = module(torch.from_numpy(x))
    assert_rel_close(ours, torch.from_numpy(reference(x, layers, weights, "th", flip=True)))


def test_a_file_that_does_not_fit_is_refused_with_both_sides(pilotnet_files, tmp_path, monkeypatch):
    km = keras_pilotnet(dense1=64)
    save_keras2_weights(km, tmp_path / "other.h5")

    def no_read(*args, **kwargs):
        raise AssertionError("a dataset was read before the shapes were matched")
    monkeypatch.setattr(h5py.Dataset, "__getitem__", no_read)
    with pytest.raises(WeightsMismatch) as e:
        load_weights_onto(PilotNet(), tmp_path / "other.h5")
    first, *table = str(e.value).splitlines()
    assert str(tmp_path / "other.h5") in first and "file layer 'dense" in first and "'head.fc1'" in first
    assert "(1152, 64)" in first and "(100, 1152)" in first
    assert table[0].split() == ["file", "layer", "shapes", "|", "module", "layer", "shapes"]
    assert len(table) == 1 + 9  # every weighted layer of both sides
    assert any(row.split()[0].startswith("conv2d") and "features.conv5" in row for row in table)


def test_a_count_that_differs_is_refused(tmp_path):
    km = keras_user_twin()
    save_keras2_weights(km, tmp_path / "w.h5")
    with pytest.raises(WeightsMismatch, match="convolution layers: 2 in the file, 5 in the module"):
        load_weights_onto(PilotNet(), tmp_path / "w.h5")


def test_a_huge_declared_dataset_is_refused_before_reading(tmp_path):
    with h5py.File(tmp_path / "huge.h5", "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = [b"dense_1/kernel:0"]
        g.create_dataset("dense_1/kernel:0", shape=(300_000, 100_000), dtype="float32", chunks=(100, 100))
    with pytest.raises(ValueError, match="refused before reading") as e:
        load_weights_onto(nn.Linear(3, 1), tmp_path / "huge.h5")
    assert "dense_1/dense_1/kernel:0" in str(e.value) and "(300000, 100000)" in str(e.value)


def test_weights_only_file_given_as_a_model_points_to_weights(tmp_path):
    km = keras_user_twin()
    save_keras2_weights(km, tmp_path / "w.h5")
    with pytest.raises(ValueError, match="--weights w.h5"):
        load_keras_model(tmp_path / "w.h5")


def test_unknown_architecture_name(tmp_path):
    with pytest.raises(ValueError, match="names no architecture"):
        weights_pilot("nosuchnet", tmp_path / "w.h5")


def test_is_keras_weights_by_content(tmp_path, pilotnet_files):
    from pilotlens.models.weights_onto import is_keras_weights
    _, folder = pilotnet_files
    torch.save(PilotNet().state_dict(), tmp_path / "state.h5")  # a torch file, whatever its name
    assert is_keras_weights(folder / "nvidia.h5") and is_keras_weights(folder / "nvidia.weights.h5")
    assert not is_keras_weights(tmp_path / "state.h5") and not is_keras_weights(tmp_path / "missing.h5")
