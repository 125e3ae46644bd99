"""Keras files of every layout load, and bad files get clear one-line errors naming the path.

Keras 3 cannot write Keras 2 files, so the Keras 2 layouts are written here with h5py and json, from a
Keras 3 model's layers and weights, as Keras 2 (tf.keras 2.x) writes them:

- legacy HDF5 (tf.keras `hdf5_format.save_model_to_hdf5` / `save_weights_to_hdf5_group`): root attrs
  `keras_version` ("2.x"), `backend` ("tensorflow"), `model_config` (JSON: class_name "Functional",
  InputLayer config `batch_input_shape`, inbound nodes `[[["name", 0, 0, {}]]]`, `input_layers` and
  `output_layers` as `[["name", 0, 0]]`, LeakyReLU `alpha`, BatchNormalization `axis` `[3]`, dtype a
  plain string); group `model_weights` with attr `layer_names`, one group per layer with attr
  `weight_names` ("conv2d_1/kernel:0", TensorFlow variable names) and the datasets at those paths.
- Keras 2.15's `.keras` zip (keras.src.saving.saving_lib): `metadata.json`, `config.json` whose
  classes are named under `keras.src.engine` (module "keras.src.engine.functional": Keras 3 cannot
  import that), and `model.weights.h5` with layer k of `model.layers` at `layers/<snake_case class
  name, made unique by _1, _2>/vars/0..n` and no `name` attribute (Keras 3.x writes one).
"""
from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_rel_close

from pilotlens.models.keras import load_keras_model, read_keras_file
from pilotlens.models.keras.files import snake_case

from . import keras_cases as K

keras = K.keras


# -- writing Keras 2 layouts ----------------------------------------------------------------------
def _keras2_config(layer) -> dict:
    cfg = layer.get_config()
    cfg["dtype"] = "float32"
    cls = type(layer).__name__
    if cls == "InputLayer":
        cfg = {"batch_input_shape": list(cfg["batch_shape"]), "dtype": "float32", "sparse": False, "ragged": False,
               "name": layer.name}
    if cls == "LeakyReLU":
        cfg["alpha"] = cfg.pop("negative_slope")
    if cls == "BatchNormalization":
        cfg["axis"] = [len(layer.input.shape) - 1]
    return cfg


def _inbound_keras2(layer_cfg: dict) -> list:
    names = []

    def walk(v):
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            names.append(v["config"]["keras_history"][0])
        elif isinstance(v, (list, tuple)):
            for item in v:
                walk(item)
    for node in layer_cfg.get("inbound_nodes", []):
        walk(node.get("args", []))
    return [[[n, 0, 0, {}] for n in names]] if names else []


def keras2_model_config(km, with_modules: bool = False) -> dict:
    """Keras 2's model config (Functional or Sequential) for a Keras 3 model."""
    k3 = km.get_config()
    if isinstance(km, keras.Sequential):
        layers = [{"class_name": "InputLayer", "config": _keras2_config(km._layers[0])}] + \
                 [{"class_name": type(l).__name__, "config": _keras2_config(l)} for l in km.layers]
        inner = {"name": km.name, "layers": layers}
        kind, module = "Sequential", "keras.src.engine.sequential"
    else:
        by_name = {l["name"]: l for l in k3["layers"]}
        layers = [{"class_name": type(l).__name__, "config": _keras2_config(l), "name": l.name,
                   "inbound_nodes": _inbound_keras2(by_name[l.name])} for l in km.layers]
        inner = {"name": km.name, "layers": layers,
                 "input_layers": [[t[0], 0, 0] for t in k3["input_layers"]] if isinstance(k3["input_layers"][0], list)
                 else [[k3["input_layers"][0], 0, 0]],
                 "output_layers": [[t[0], 0, 0] for t in k3["output_layers"]] if isinstance(k3["output_layers"][0], list)
                 else [[k3["output_layers"][0], 0, 0]]}
        kind, module = "Functional", "keras.src.engine.functional"
    if with_modules:  # Keras 2.13-2.15 .keras config.json
        for l in inner["layers"]:
            l.update(module="keras.layers", registered_name=None)
        return {"module": module, "class_name": kind, "config": inner, "registered_name": kind}
    return {"class_name": kind, "config": inner, "keras_version": "2.15.0", "backend": "tensorflow"}


def write_keras2_h5(km, path, config: dict | None = None) -> None:
    """km's weights as Keras 2 writes an .h5, under `config` (default: km's own Keras 2 model config)."""
    layers = ([km._layers[0]] if isinstance(km, keras.Sequential) else []) + list(km.layers)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.15.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config if config is not None else keras2_model_config(km)).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [l.name.encode() for l in layers]
        for l in layers:
            lg = g.create_group(l.name)
            names = [f"{w.path}:0" for w in l.weights]
            lg.attrs["weight_names"] = [n.encode() for n in names]
            for n, w in zip(names, l.get_weights()):
                lg.create_dataset(n, data=w)


def write_keras215_zip(km, path) -> None:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        used: dict[str, int] = {}
        for l in km.layers:  # Sequential.layers leaves the InputLayer out, Functional.layers keeps it
            key = snake_case(type(l).__name__)
            used[key] = used.get(key, -1) + 1
            key = key if used[key] == 0 else f"{key}_{used[key]}"
            vars_ = f.create_group(f"layers/{key}/vars")
            for i, w in enumerate(l.get_weights()):
                vars_.create_dataset(str(i), data=w)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "2.15.0", "date_saved": "2024-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(keras2_model_config(km, with_modules=True)))
        z.writestr("model.weights.h5", buffer.getvalue())


@pytest.mark.parametrize("name", ["donkey_linear", "donkey_categorical", "pilotnet", "udacity"])
@pytest.mark.parametrize("layout", ["h5", "keras"])
def test_keras2_files_load_and_match_keras(tmp_path, name, layout):
    km = K.CASES[name]()
    path = tmp_path / f"{name}.{layout}"
    (write_keras2_h5 if layout == "h5" else write_keras215_zip)(km, path)
    read = read_keras_file(path)
    assert read.keras_version == "2.15.0"
    model = load_keras_model(path)
    x = K.inputs(km, high=255.0 if name == "pilotnet" else 1.0)
    for o, r in zip(K.as_list(model(K.nchw(x))), K.keras_outputs(km, x)):
        assert_rel_close(o, r.detach())


def test_keras215_config_names_classes_keras3_cannot_import(tmp_path):
    """The point of parsing by class name only: the 2.15 file names keras.src.engine modules."""
    path = tmp_path / "old.keras"
    write_keras215_zip(K.donkey_linear(), path)
    with zipfile.ZipFile(path) as z:
        assert json.loads(z.read("config.json"))["module"] == "keras.src.engine.functional"
    assert load_keras_model(path).output_names == ("angle", "throttle")


# -- bad files -------------------------------------------------------------------------------------
def _msg(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_not_hdf5_nor_zip(tmp_path):
    path = tmp_path / "pilot.h5"
    path.write_bytes(b"this is not a model at all")
    with pytest.raises(ValueError, match="neither HDF5") as e:
        load_keras_model(path)
    assert str(path) in _msg(e)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Keras model file"):
        load_keras_model(tmp_path / "nope.h5")


def test_weights_only_files_ask_for_the_architecture(tmp_path):
    km = K.donkey_linear()
    keras3 = tmp_path / "pilot.weights.h5"
    km.save_weights(keras3)
    keras2 = tmp_path / "pilot2.h5"
    with h5py.File(keras2, "w") as f:  # tf.keras save_weights(".h5"): layer groups at the root
        f.attrs["layer_names"] = [b"conv2d_1"]
        f.create_group("conv2d_1").attrs["weight_names"] = []
    for path in (keras3, keras2):
        with pytest.raises(ValueError, match="weights only") as e:
            load_keras_model(path)
        assert str(path) in _msg(e) and "architecture" in _msg(e)


def test_hdf5_that_is_no_keras_model(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(ValueError, match="without a Keras model config") as e:
        load_keras_model(path)
    assert str(path) in _msg(e)


@pytest.mark.parametrize("suffix", ["h5", "keras"])
def test_truncated_files(tmp_path, suffix):
    full = K.save(K.pilotnet(), tmp_path, "full")[suffix]
    data = open(full, "rb").read()
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged") as e:
        load_keras_model(path)
    assert str(path) in _msg(e)


@pytest.mark.parametrize("suffix", ["h5", "keras"])
def test_lambda_is_refused_then_loads_when_stated(tmp_path, suffix):
    km = K.pilotnet(lambda_layer=True)
    path = K.save(km, tmp_path, "lambda")[suffix]
    with pytest.raises(ValueError, match="Lambda") as e:
        load_keras_model(path)
    text = _msg(e)
    assert "'normalize'" in text and "lambdas=" in text and "never runs" in text and path in text
    model = load_keras_model(path, lambdas={"normalize": {"scale": 1 / 127.5, "offset": -1.0}})
    x = K.inputs(km, high=255.0)
    assert_rel_close(model(K.nchw(x)), K.keras_outputs(km, x)[0].detach())


def test_lambdas_must_name_lambda_layers(tmp_path):
    path = K.save(K.pilotnet(lambda_layer=True), tmp_path, "lambda")["keras"]
    with pytest.raises(ValueError, match="not Lambda layers"):
        load_keras_model(path, lambdas={"normalize": {"scale": 1.0, "offset": 0.0}, "conv1": {"scale": 2.0}})


def test_unsupported_layer_is_named_never_skipped(tmp_path):
    km = keras.Sequential([keras.Input((8, 8, 3)), K.L.Conv2D(2, 3, name="c"),
                           K.L.Conv2DTranspose(2, 3, name="up"), K.L.Flatten(), K.L.Dense(1)])
    path = tmp_path / "odd.keras"
    km.save(path)
    with pytest.raises(ValueError, match="'up' \\(Conv2DTranspose\\) is not supported") as e:
        load_keras_model(path)
    assert str(path) in _msg(e) and "never skips" in _msg(e)


def test_sequential_without_input_shape(tmp_path):
    km = K.pilotnet()
    config = keras2_model_config(km)
    config["config"]["layers"] = config["config"]["layers"][1:]  # no InputLayer, no batch_input_shape
    path = tmp_path / "noshape.h5"
    write_keras2_h5(km, path, config)
    with pytest.raises(ValueError, match="no input shape") as e:
        load_keras_model(path)
    assert str(path) in _msg(e)


def test_several_inputs_are_refused(tmp_path):
    a, b = keras.Input((8, 8, 3), name="img_in"), keras.Input((2,), name="imu_in")
    out = K.L.Dense(1)(K.L.Concatenate()([K.L.Flatten()(a), b]))
    path = tmp_path / "imu.keras"
    keras.Model([a, b], out).save(path)
    with pytest.raises(ValueError, match="2 inputs"):
        load_keras_model(path)


def test_nothing_in_the_file_runs(tmp_path, monkeypatch):
    """Loading never imports keras nor unpickles: a Lambda model loads with keras made unimportable."""
    import sys
    path = K.save(K.pilotnet(lambda_layer=True), tmp_path, "lambda")["h5"]
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    model = load_keras_model(path, lambdas={"normalize": {"scale": 1 / 127.5, "offset": -1.0}})
    assert isinstance(model, torch.nn.Module)


def test_output_columns_are_named_from_the_layers(tmp_path):
    """Dense outputs give their width; other outputs are measured: probs_0..2 then value."""
    inp = keras.Input((8, 8, 3), name="img")
    h = K.L.Flatten()(K.L.Conv2D(2, 3)(inp))
    probs = K.L.Activation("softmax", name="probs")(K.L.Dense(3)(h))
    value = K.L.Dense(1, name="value")(h)
    path = tmp_path / "two.keras"
    keras.Model(inp, [probs, value]).save(path)
    assert load_keras_model(path).output_names == ("probs_0", "probs_1", "probs_2", "value")


def test_a_config_keras_2_and_3_would_not_write_is_a_clear_error(tmp_path):
    km = K.pilotnet()
    config = keras2_model_config(km)
    conv = next(l for l in config["config"]["layers"] if l["class_name"] == "Conv2D")
    conv["config"]["nb_filter"] = conv["config"].pop("filters")  # Keras 1 spelling
    path = tmp_path / "keras1.h5"
    write_keras2_h5(km, path, config)
    with pytest.raises(ValueError, match="'conv1' \\(Conv2D\\): its config cannot be read") as e:
        load_keras_model(path)
    assert str(path) in _msg(e)


def test_a_layer_named_like_a_module_attribute_is_refused(tmp_path):
    km = keras.Sequential([keras.Input((6, 6, 1)), K.L.Conv2D(1, 3, name="graph"), K.L.Flatten(), K.L.Dense(1)])
    path = tmp_path / "clash.keras"
    km.save(path)
    with pytest.raises(ValueError, match="'graph' clashes") as e:
        load_keras_model(path)
    assert str(path) in _msg(e)
