"""Keras 1 files (and early Keras 2's list-form Sequential) load, checked against a forward written here in numpy.

The files are written with h5py as Keras 1.2 wrote them (keras/models.py `save_model` and
keras/engine/topology.py `save_weights_to_hdf5_group`): root attributes `keras_version` ("1.2.1") and
`model_config` (JSON; a Sequential's `config` is the layer list itself, the first layer carries
`batch_input_shape`); group `model_weights` with attributes `layer_names`, `backend` and
`keras_version`, one group per layer with attribute `weight_names` ("<layer>_W:0", "<layer>_b:0" under
TensorFlow, "<layer>_W" under Theano) and each dataset at that name. Kernels are stored (h, w, in, out)
with dim_ordering "tf" and (out, in, h, w) with "th"; Theano computed a true convolution.

The reference below reads each stored array by its documented layout (no transposition shared with
the converter), runs correlation or convolution as direct sums over kernel taps, and flattens in the
file's own order.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from conftest import assert_rel_close

from pilotlens.layers import find_layer
from pilotlens.models.keras import files as keras_files
from pilotlens.models.keras import load_keras_model

RNG = np.random.default_rng(7)


# -- writing Keras 1 files ------------------------------------------------------------------------
def write_keras1_h5(path, layers: list, weights: dict, backend: str = "tensorflow", version: str = "1.2.1",
                    kind: str = "Sequential", extra: dict | None = None) -> None:
    """layers: [{"class_name", "config"}] as Keras 1 wrote them; weights: {layer name: [(suffix, array)]}."""
    names = [l["config"]["name"] for l in layers]
    config = layers if kind == "Sequential" else {"name": "model_1", "layers": layers, **(extra or {})}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version.encode()
        f.attrs["model_config"] = json.dumps({"class_name": kind, "config": config}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in names]
        g.attrs["backend"] = backend.encode()
        g.attrs["keras_version"] = version.encode()
        tail = ":0" if backend == "tensorflow" else ""
        for name in names:
            lg = g.create_group(name)
            pairs = weights.get(name, [])
            wnames = [f"{name}_{suffix}{tail}" for suffix, _ in pairs]
            lg.attrs["weight_names"] = [n.encode() for n in wnames]
            for n, (_, a) in zip(wnames, pairs):
                lg.create_dataset(n, data=a)


def conv1(name, nb_filter, k, stride=1, border="valid", activation="linear", order="tf", **extra):
    return {"class_name": "Convolution2D", "config": {
        "name": name, "trainable": True, "nb_filter": nb_filter, "nb_row": k, "nb_col": k, "init": "glorot_uniform",
        "activation": activation, "border_mode": border, "subsample": [stride, stride], "dim_ordering": order,
        "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
        "b_constraint": None, "bias": True, **extra}}


def layer(class_name, name, **cfg):
    return {"class_name": class_name, "config": {"name": name, "trainable": True, **cfg}}


def pilot_case(order: str):
    """A small Keras 1 steering net using every layer the issue lists: (layers, weights, input shape (H, W, C))."""
    h, w, c = 20, 24, 3
    shape = [None, h, w, c] if order == "tf" else [None, c, h, w]
    cin = {"tf": -1, "th": 1}[order]
    layers = [
        layer("Cropping2D", "cropping2d_1", cropping=[[2, 1], [1, 2]], dim_ordering=order, batch_input_shape=shape,
              input_dtype="float32"),                                                   # 17 x 21
        layer("BatchNormalization", "batchnormalization_1", epsilon=0.001, mode=0, axis=cin, momentum=0.99,
              gamma_regularizer=None, beta_regularizer=None),
        conv1("convolution2d_1", 4, 3, 2, "valid", "relu", order),                        # 8 x 10
        conv1("convolution2d_2", 5, 3, 1, "same", "linear", order),                       # 8 x 10
        layer("ELU", "elu_1", alpha=0.7),
        layer("MaxPooling2D", "maxpooling2d_1", pool_size=[2, 2], strides=[2, 2], border_mode="valid",
              dim_ordering=order),                                                      # 4 x 5
        conv1("convolution2d_3", 6, 3, 1, "same", "tanh", order),                         # 4 x 5
        layer("AveragePooling2D", "averagepooling2d_1", pool_size=[2, 2], strides=[1, 1], border_mode="valid",
              dim_ordering=order),                                                      # 3 x 4
        layer("Flatten", "flatten_1"),                                                  # 72
        layer("Dropout", "dropout_1", p=0.5),
        layer("Dense", "dense_1", output_dim=7, init="glorot_uniform", activation="elu", W_regularizer=None,
              b_regularizer=None, activity_regularizer=None, W_constraint=None, b_constraint=None, bias=True,
              input_dim=None),
        layer("Activation", "activation_1", activation="linear"),
        layer("Dense", "dense_2", output_dim=1, activation="linear", bias=True),
    ]
    weights = {"batchnormalization_1": [("gamma", RNG.uniform(0.5, 1.5, c)), ("beta", RNG.normal(0, 0.1, c)),
                                        ("running_mean", RNG.normal(0.5, 0.1, c)), ("running_std", RNG.uniform(0.5, 2, c))]}
    channels = c
    for name, n, k in (("convolution2d_1", 4, 3), ("convolution2d_2", 5, 3), ("convolution2d_3", 6, 3)):
        kernel = RNG.normal(0, 1 / np.sqrt(k * k * channels), (k, k, channels, n) if order == "tf" else (n, channels, k, k))
        weights[name] = [("W", kernel), ("b", RNG.normal(0, 0.1, n))]
        channels = n
    weights["dense_1"] = [("W", RNG.normal(0, 1 / np.sqrt(72), (72, 7))), ("b", RNG.normal(0, 0.1, 7))]
    weights["dense_2"] = [("W", RNG.normal(0, 0.5, (7, 1))), ("b", RNG.normal(0, 0.1, 1))]
    weights = {k: [(s, np.asarray(a, np.float32)) for s, a in v] for k, v in weights.items()}
    return layers, weights, (h, w, c)


# -- the reference, in numpy ----------------------------------------------------------------------
def _kernel_at(kernel: np.ndarray, order: str):
    """(o, i, r, c) -> the stored kernel's value, by the layout Keras 1 documents for `order`."""
    if order == "tf":
        return lambda o, i, r, c: kernel[r, c, i, o]
    return lambda o, i, r, c: kernel[o, i, r, c]


def _same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def ref_conv(x, kernel, bias, stride, border, order, flip):
    """x: B x C x H x W (float64). A sum over kernel taps: correlation, or convolution where `flip`."""
    n_out = bias.shape[0]
    k = kernel.shape[0] if order == "tf" else kernel.shape[2]
    if border == "same":
        top, bottom = _same_pads(x.shape[2], k, stride)
        left, right = _same_pads(x.shape[3], k, stride)
        x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (x.shape[2] - k) // stride + 1
    ow = (x.shape[3] - k) // stride + 1
    at = _kernel_at(kernel, order)
    out = np.zeros((x.shape[0], n_out, oh, ow))
    for o in range(n_out):
        for i in range(x.shape[1]):
            for r in range(k):
                for c in range(k):
                    wr, wc = (k - 1 - r, k - 1 - c) if flip else (r, c)
                    out[:, o] += at(o, i, wr, wc) * x[:, i, r:r + stride * (oh - 1) + 1:stride, c:c + stride * (ow - 1) + 1:stride]
        out[:, o] += bias[o]
    return out


def ref_pool(x, size, stride, mode):
    oh = (x.shape[2] - size) // stride + 1
    ow = (x.shape[3] - size) // stride + 1
    out = np.empty((x.shape[0], x.shape[1], oh, ow))
    for y in range(oh):
        for xx in range(ow):
            window = x[:, :, y * stride:y * stride + size, xx * stride:xx * stride + size]
            out[:, :, y, xx] = window.max(axis=(2, 3)) if mode == "max" else window.mean(axis=(2, 3))
    return out


def ref_act(x, name, alpha=1.0):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "elu":
        return np.where(x > 0, x, alpha * (np.exp(x) - 1))
    if name == "tanh":
        return np.tanh(x)
    assert name == "linear", name
    return x


def reference(x_keras: np.ndarray, layers: list, weights: dict, order: str, flip: bool = False,
              lambdas: dict | None = None) -> np.ndarray:
    """The Keras 1 model's output for x given in the file's own layout (tf: B H W C, th: B C H W)."""
    x = np.asarray(x_keras, np.float64)
    x = x if order == "th" else x.transpose(0, 3, 1, 2)  # worked on as B x C x H x W
    for spec in layers:
        cls, cfg = spec["class_name"], spec["config"]
        arrays = dict(weights.get(cfg["name"], []))
        if cls == "Cropping2D":
            (t, b), (l, r) = cfg["cropping"]
            x = x[:, :, t:x.shape[2] - b, l:x.shape[3] - r]
        elif cls == "Lambda":
            x = x * lambdas["scale"] + lambdas["offset"]
        elif cls == "BatchNormalization":
            g, b, m, v = (arrays[k].reshape(1, -1, 1, 1) if x.ndim == 4 else arrays[k][None]
                          for k in ("gamma", "beta", "running_mean", "running_std"))
            x = (x - m) / np.sqrt(v + cfg["epsilon"]) * g + b
        elif cls == "Convolution2D":
            x = ref_conv(x, arrays["W"], arrays["b"], cfg["subsample"][0], cfg["border_mode"], order, flip)
            x = ref_act(x, cfg["activation"])
        elif cls == "ELU":
            x = ref_act(x, "elu", cfg["alpha"])
        elif cls in ("MaxPooling2D", "AveragePooling2D"):
            x = ref_pool(x, cfg["pool_size"][0], cfg["strides"][0], "max" if cls.startswith("Max") else "avg")
        elif cls == "Flatten":
            x = x.reshape(x.shape[0], -1) if order == "th" else x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)
        elif cls == "Dense":
            x = ref_act(x @ arrays["W"] + arrays["b"], cfg["activation"])
        elif cls == "Activation":
            x = ref_act(x, cfg["activation"])
        else:
            assert cls == "Dropout", cls
    return x


def _x(shape_hwc, order, batch=3, seed=0):
    h, w, c = shape_hwc
    x = np.random.default_rng(seed).uniform(0, 1, (batch, h, w, c)).astype(np.float32)
    return x if order == "tf" else x.transpose(0, 3, 1, 2).copy()


def _ours(model, x_keras, order) -> torch.Tensor:
    nchw = x_keras if order == "th" else x_keras.transpose(0, 3, 1, 2)
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(nchw)))


# -- tests ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["tf", "th"])
@pytest.mark.parametrize("backend", ["tensorflow", "theano"])
def test_keras1_file_equals_numpy_reference(tmp_path, order, backend):
    layers, weights, shape = pilot_case(order)
    path = tmp_path / f"k1_{order}_{backend}.h5"
    write_keras1_h5(path, layers, weights, backend=backend)
    model = load_keras_model(path)
    x = _x(shape, order)
    ref = reference(x, layers, weights, order, flip=backend == "theano")
    assert np.std(ref, axis=0).max() > 0, "the reference is the same for every input: proves little"
    assert_rel_close(_ours(model, x, order), torch.from_numpy(ref))
    assert model.input_size == (shape[1], shape[0])
    # the Keras layer names are the module's: a layer method can be pointed at them
    assert find_layer(model, "convolution2d_3")[1] is model.convolution2d_3


def test_theano_kernels_are_flipped_back(tmp_path):
    """The same arrays under the two backends give different models, each equal to its own reference."""
    layers, weights, shape = pilot_case("th")
    outs = {}
    for backend in ("tensorflow", "theano"):
        write_keras1_h5(tmp_path / f"{backend}.h5", layers, weights, backend=backend)
        outs[backend] = _ours(load_keras_model(tmp_path / f"{backend}.h5"), _x(shape, "th"), "th")
    assert not torch.allclose(outs["tensorflow"], outs["theano"], rtol=1e-3, atol=1e-4)


def test_th_flatten_keeps_channels_first_order(tmp_path):
    """A th model's Dense after Flatten reads C, H, W: the graph says so, and a channels-last flatten
    would give another output (so the th test above could not pass by luck)."""
    layers, weights, shape = pilot_case("th")
    write_keras1_h5(tmp_path / "th.h5", layers, weights)
    model = load_keras_model(tmp_path / "th.h5")
    assert model.flatten_1.order == "channels_first" and model.graph["version"] == 2
    x = _x(shape, "th")
    ours = _ours(model, x, "th")
    model.flatten_1.order = "channels_last"
    assert not torch.allclose(_ours(model, x, "th"), ours, rtol=1e-3, atol=1e-4)


def test_tf_graph_stays_version_1(tmp_path):
    layers, weights, _ = pilot_case("tf")
    write_keras1_h5(tmp_path / "tf.h5", layers, weights)
    assert load_keras_model(tmp_path / "tf.h5").graph["version"] == 1


def test_keras1_functional_model(tmp_path):
    """A Keras 1 `Model` (class_name "Model", inbound nodes [[["name", 0, 0]]])."""
    layers = [
        layer("InputLayer", "input_1", batch_input_shape=[None, 10, 12, 2], input_dtype="float32", sparse=False),
        conv1("conv", 3, 3, 2, "valid", "relu"),
        layer("Flatten", "flat"),
        layer("Dense", "out", output_dim=2, activation="linear", bias=True),
    ]
    for i, l in enumerate(layers):
        l["name"] = l["config"]["name"]
        l["inbound_nodes"] = [] if i == 0 else [[[layers[i - 1]["config"]["name"], 0, 0]]]
    weights = {"conv": [("W", RNG.normal(0, 0.3, (3, 3, 2, 3)).astype(np.float32)), ("b", np.zeros(3, np.float32))],
               "out": [("W", RNG.normal(0, 0.3, (60, 2)).astype(np.float32)), ("b", np.ones(2, np.float32))]}
    write_keras1_h5(tmp_path / "model.h5", layers, weights, kind="Model",
                    extra={"input_layers": [["input_1", 0, 0]], "output_layers": [["out", 0, 0]]})
    model = load_keras_model(tmp_path / "model.h5")
    x = _x((10, 12, 2), "tf")
    assert_rel_close(_ours(model, x, "tf"), torch.from_numpy(reference(x, layers[1:], weights, "tf")))


def test_early_keras2_list_form_sequential(tmp_path):
    """Keras 2.0-2.2.4 wrote a Sequential's config as the layer list, with Keras 2 keys and weight paths."""
    layers = [
        {"class_name": "Conv2D", "config": {"name": "conv2d_1", "filters": 3, "kernel_size": [3, 3], "strides": [1, 1],
                                           "padding": "valid", "data_format": "channels_last", "activation": "relu",
                                           "use_bias": True, "batch_input_shape": [None, 8, 9, 2]}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "data_format": "channels_last"}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 2, "activation": "linear", "use_bias": True}},
    ]
    kernel = RNG.normal(0, 0.3, (3, 3, 2, 3)).astype(np.float32)
    dense = RNG.normal(0, 0.3, (6 * 7 * 3, 2)).astype(np.float32)
    with h5py.File(tmp_path / "k2.h5", "w") as f:
        f.attrs["keras_version"] = b"2.1.6"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers}).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [b"conv2d_1", b"flatten_1", b"dense_1"]
        for name, arrays in (("conv2d_1", [("kernel", kernel), ("bias", np.zeros(3, np.float32))]), ("flatten_1", []),
                             ("dense_1", [("kernel", dense), ("bias", np.zeros(2, np.float32))])):
            lg = g.create_group(name)
            lg.attrs["weight_names"] = [f"{name}/{n}:0".encode() for n, _ in arrays]
            for n, a in arrays:
                lg.create_dataset(f"{name}/{n}:0", data=a)
    model = load_keras_model(tmp_path / "k2.h5")
    x = _x((8, 9, 2), "tf")
    as_keras1 = [conv1("conv2d_1", 3, 3, 1, "valid", "relu"), layer("Flatten", "flatten_1"),
                 layer("Dense", "dense_1", output_dim=2, activation="linear")]
    ref = reference(x, as_keras1, {"conv2d_1": [("W", kernel), ("b", np.zeros(3))],
                                   "dense_1": [("W", dense), ("b", np.zeros(2))]}, "tf")
    assert_rel_close(_ours(model, x, "tf"), torch.from_numpy(ref))


def _msg(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text, f"the error spans several lines: {text!r}"
    return text


def test_unknown_keras1_layer_is_named_with_its_class(tmp_path):
    layers, weights, _ = pilot_case("tf")
    layers.insert(4, layer("LRN2D", "lrn_1", alpha=1e-4, k=2, beta=0.75, n=5))
    write_keras1_h5(tmp_path / "lrn.h5", layers, weights)
    with pytest.raises(ValueError) as e:
        load_keras_model(tmp_path / "lrn.h5")
    text = _msg(e)
    assert "'lrn_1' (LRN2D)" in text and "Keras 1" in text and str(tmp_path / "lrn.h5") in text


def test_lambda_refused_with_the_way_out_then_loads(tmp_path):
    layers, weights, shape = pilot_case("tf")
    lam = layer("Lambda", "lambda_1", function=["4wEAAAAAAAAAAQAAAAIAAABDAAAAcwwAAAB8AABkAQAbZAIAGFMp", None, None],
                function_type="lambda", output_shape=None, output_shape_type="raw", arguments={})
    layers.insert(1, lam)
    write_keras1_h5(tmp_path / "lambda.h5", layers, weights)
    with pytest.raises(ValueError) as e:
        load_keras_model(tmp_path / "lambda.h5")
    assert "--lambda lambda_1=" in _msg(e) and "never runs" in _msg(e)
    stated = {"scale": 1 / 255, "offset": -0.5}
    model = load_keras_model(tmp_path / "lambda.h5", lambdas={"lambda_1": stated})
    x = _x(shape, "tf") * 255
    assert_rel_close(_ours(model, x, "tf"), torch.from_numpy(reference(x, layers, weights, "tf", lambdas=stated)))


def test_batchnorm_modes_using_batch_statistics_are_refused(tmp_path):
    layers, weights, _ = pilot_case("tf")
    layers[1]["config"]["mode"] = 2
    write_keras1_h5(tmp_path / "bn.h5", layers, weights)
    with pytest.raises(ValueError) as e:
        load_keras_model(tmp_path / "bn.h5")
    assert "'batchnormalization_1' (BatchNormalization)" in _msg(e) and "mode 2" in _msg(e)


def test_theano_same_padding_that_differs_from_tensorflow_is_refused(tmp_path):
    """Theano padded 'same' symmetrically (and cut the end): equal to TensorFlow's only for odd kernels at
    stride 1; anything else is refused rather than converted wrong."""
    layers = [conv1("c", 2, 2, 1, "same", "linear", batch_input_shape=[None, 6, 6, 1]), layer("Flatten", "f")]
    weights = {"c": [("W", np.ones((2, 2, 1, 2), np.float32)), ("b", np.zeros(2, np.float32))]}
    write_keras1_h5(tmp_path / "even.h5", layers, weights, backend="theano")
    with pytest.raises(ValueError) as e:
        load_keras_model(tmp_path / "even.h5")
    assert "'c'" in _msg(e) and "Theano" in _msg(e)
    write_keras1_h5(tmp_path / "even_tf.h5", layers, weights, backend="tensorflow")
    load_keras_model(tmp_path / "even_tf.h5")  # TensorFlow's own 'same': converted as it is


def test_declared_shape_not_fitting_the_config_is_refused_before_reading(tmp_path, monkeypatch):
    layers, weights, _ = pilot_case("tf")
    weights["convolution2d_2"][0] = ("W", np.zeros((3, 3, 4, 9), np.float32))  # config says 5 filters
    write_keras1_h5(tmp_path / "bad.h5", layers, weights)

    def no_read(*args, **kwargs):
        raise AssertionError("a dataset was read before its declared shape was checked")
    monkeypatch.setattr(h5py.Dataset, "__getitem__", no_read)
    with pytest.raises(ValueError) as e:
        load_keras_model(tmp_path / "bad.h5")
    assert "'convolution2d_2'" in _msg(e) and "(3, 3, 4, 9)" in _msg(e)


def test_a_huge_declared_dataset_is_refused_before_reading(tmp_path):
    """A tiny file can declare a dataset of any size (chunked, never written): refused by its declared size."""
    layers, weights, _ = pilot_case("tf")
    write_keras1_h5(tmp_path / "huge.h5", layers, weights)
    with h5py.File(tmp_path / "huge.h5", "a") as f:
        g = f["model_weights/dense_1"]
        del g["dense_1_W:0"]
        g.create_dataset("dense_1_W:0", shape=(200_000, 100_000), dtype="float32", chunks=(100, 100))
    assert (tmp_path / "huge.h5").stat().st_size < 1_000_000
    with pytest.raises(ValueError) as e:
        load_keras_model(tmp_path / "huge.h5")
    text = _msg(e)
    assert "dense_1/dense_1_W:0" in text and "(200000, 100000)" in text and "refused before reading" in text


def test_size_cap_applies_to_the_sum(tmp_path, monkeypatch):
    layers, weights, _ = pilot_case("tf")
    write_keras1_h5(tmp_path / "k1.h5", layers, weights)
    monkeypatch.setattr(keras_files, "MAX_BYTES", 1000)
    with pytest.raises(ValueError, match="over the 0 MiB") as e:
        load_keras_model(tmp_path / "k1.h5")
    assert str(tmp_path / "k1.h5") in _msg(e)
