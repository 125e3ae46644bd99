"""Keras 1 model configs and weights, in the terms of Keras 2 that `config.layer_spec` already reads.

What Keras 1 (1.0-1.2, 2016-2017: the behavioural-cloning tutorials of that time) wrote differently:

- a Sequential `model_config` whose `config` is the layer list itself (early Keras 2 did too, up to 2.2.4);
- layer keys: Convolution2D `nb_filter`, `nb_row`, `nb_col`, `subsample`, `border_mode`, `bias`,
  `dim_ordering`; Dense `output_dim`; Dropout `p`; pooling `border_mode`; `batch_input_shape` on the
  first layer; BatchNormalization `mode` (0: moving statistics at inference; 1 and 2 use the batch's
  own statistics, which a converted model cannot reproduce);
- `dim_ordering: "th"` (channels first): the input shape is C x H x W, kernels are stored
  (out, in, h, w) instead of (h, w, in, out), Flatten takes the values in C, H, W order, and
  BatchNormalization's channel axis is 1;
- weights named "<layer>_W:0", "<layer>_b:0" (TensorFlow) or "<layer>_W" (Theano); BatchNormalization
  "<layer>_gamma", "_beta", "_running_mean", "_running_std" (the last holds the variance, despite its
  name: Keras 1 fed it to batch_normalization as the variance);
- the Theano backend computed a true convolution (the kernel flipped in both spatial axes) where
  TensorFlow computes a correlation: a kernel saved under Theano is flipped back here (`weights`).

Only the layers below are translated; any other Keras 1 layer is refused by name and class.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import KerasConfigError

#: keys only Keras 1 wrote (a file without `keras_version` is recognised by them)
_KERAS1_KEYS = {"nb_filter", "nb_row", "nb_col", "subsample", "border_mode", "dim_ordering", "output_dim",
                "input_dtype"}
_KERAS1_CLASSES = {"Convolution2D", "AtrousConvolution2D", "Merge"}
SUPPORTED = ("Convolution2D, AtrousConvolution2D, Dense, Dropout, SpatialDropout2D, Activation, ELU, LeakyReLU, "
             "Flatten, BatchNormalization (mode 0), MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, "
             "GlobalMaxPooling2D, Cropping2D, ZeroPadding2D, InputLayer, and Lambda given as lambdas=")


def layer_list(config: dict) -> list:
    """The layer list of a Sequential or Functional config, in either form (list or dict with "layers")."""
    inner = config.get("config")
    if isinstance(inner, list):
        return inner
    return inner.get("layers", []) if isinstance(inner, dict) else []


def is_keras1(config: dict, keras_version: str | None = None) -> bool:
    """True for a Keras 1 config: its file says version 1.x, or (a file that does not say: a JSON
    architecture, Keras 1.0) its layers use Keras 1 classes or keys. A file saying 2.x or later is taken
    at its word: a Keras 1 key in it is a broken config, reported as such."""
    major = str(keras_version or "").split(".")[0]
    if major.isdigit():
        return major == "1"
    for layer in layer_list(config):
        if not isinstance(layer, dict):
            continue
        cfg = layer.get("config") or {}
        if layer.get("class_name") in _KERAS1_CLASSES or (isinstance(cfg, dict) and _KERAS1_KEYS & set(cfg)):
            return True
    return False


def _ordering(cfg: dict, default: str) -> str:
    order = str(cfg.get("dim_ordering", default) or default)
    if order == "default":  # Keras 1 meant "what keras.json says", which the file does not record
        order = default
    if order not in ("tf", "th"):
        raise KerasConfigError(f"dim_ordering {order!r} is neither 'tf' nor 'th'")
    return order


def _padding(cfg: dict, where: str) -> str:
    mode = str(cfg.get("border_mode", "valid"))
    if mode not in ("valid", "same"):
        raise KerasConfigError(f"{where}: border_mode {mode!r} is not supported (valid or same)")
    return mode


def _shape(batch_shape, order: str) -> list:
    """A Keras 1 batch_input_shape as Keras 2's channels-last batch shape."""
    shape = list(batch_shape)
    if order == "th" and len(shape) == 4:
        shape = [shape[0], shape[2], shape[3], shape[1]]
    return shape


def _translate(class_name: str, cfg: dict, order: str, where: str) -> tuple[str, dict]:
    """(Keras 2 class name, Keras 2 config) for one Keras 1 layer."""
    c, out = class_name, {"name": cfg.get("name")}
    if "batch_input_shape" in cfg and cfg["batch_input_shape"]:
        out["batch_input_shape"] = _shape(cfg["batch_input_shape"], order)
    if c in ("Convolution2D", "AtrousConvolution2D"):
        out.update(filters=cfg["nb_filter"], kernel_size=[cfg["nb_row"], cfg["nb_col"]],
                   strides=cfg.get("subsample", [1, 1]), padding=_padding(cfg, where),
                   dilation_rate=cfg.get("atrous_rate", [1, 1]), use_bias=cfg.get("bias", True),
                   activation=cfg.get("activation", "linear"))
        return "Conv2D", out
    if c == "Dense":
        out.update(units=cfg["output_dim"], use_bias=cfg.get("bias", True), activation=cfg.get("activation", "linear"))
        return "Dense", out
    if c in ("Dropout", "SpatialDropout2D"):
        out["rate"] = cfg.get("p", cfg.get("rate", 0.0))
        return c, out
    if c in ("Activation", "Flatten", "InputLayer"):
        if "activation" in cfg:
            out["activation"] = cfg["activation"]
        return c, out
    if c in ("ELU", "LeakyReLU"):
        out["alpha"] = cfg.get("alpha", 1.0 if c == "ELU" else 0.3)
        return c, out
    if c in ("MaxPooling2D", "AveragePooling2D"):
        out.update(pool_size=cfg.get("pool_size", [2, 2]), strides=cfg.get("strides"), padding=_padding(cfg, where))
        return c, out
    if c in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return c, out
    if c == "BatchNormalization":
        mode = int(cfg.get("mode", 0))
        if mode != 0:
            raise KerasConfigError(f"{where}: BatchNormalization mode {mode} normalises with each batch's own "
                                   "statistics at inference, which a converted model cannot reproduce (mode 0 only)")
        axis = int(cfg.get("axis", -1))
        if order == "th":  # channels first: Keras 1's channel axis 1 is the converted model's channel axis
            if axis not in (1, -3):
                raise KerasConfigError(f"{where}: normalisation over axis {axis} with dim_ordering 'th' is not "
                                       "supported (the channel axis, 1, only)")
            axis = -1
        out.update(axis=axis, epsilon=cfg.get("epsilon", 1e-3), center=True, scale=True)
        return c, out
    if c == "Cropping2D":
        out["cropping"] = cfg.get("cropping", [[0, 0], [0, 0]])
        return c, out
    if c == "ZeroPadding2D":
        pad = cfg.get("padding", [1, 1])
        if isinstance(pad, dict):
            pad = [[pad.get("top_pad", 0), pad.get("bottom_pad", 0)], [pad.get("left_pad", 0), pad.get("right_pad", 0)]]
        elif len(pad) == 2 and all(isinstance(v, int) for v in pad):
            pad = [[pad[0], pad[0]], [pad[1], pad[1]]]
        elif len(pad) == 4:
            pad = [[pad[0], pad[1]], [pad[2], pad[3]]]
        out["padding"] = pad
        return c, out
    if c == "Lambda":
        return c, out  # config.layer_spec refuses it, or takes the affine map the user states
    raise KerasConfigError(f"{where} is a Keras 1 layer pilotlens does not convert, and pilotlens never skips a "
                           f"layer; supported Keras 1 layers: {SUPPORTED}")


def translate(config: dict) -> tuple[dict, dict[str, str]]:
    """(the config in Keras 2 terms, {layer name: "th" or "tf"} for the layers whose layout it changes).

    The returned config has the dict form ({"name", "layers"}); a layer's dim_ordering defaults to the
    first layer's that states one (Keras 1 took it from keras.json, which the file does not record)."""
    kind = config.get("class_name")
    if kind == "Model":
        kind = "Functional"
    if kind not in ("Sequential", "Functional"):
        raise KerasConfigError(f"the Keras 1 model is a {kind!r}, not a Sequential or a Model with a layer list")
    layers = layer_list(config)
    default = next((_ordering(l.get("config") or {}, "tf") for l in layers
                    if isinstance(l, dict) and "dim_ordering" in (l.get("config") or {})), "tf")
    out_layers, orders = [], {}
    for layer in layers:
        cfg = dict(layer.get("config") or {})
        name = str(cfg.get("name") or layer.get("name"))
        class_name = str(layer.get("class_name"))
        where = f"layer {name!r} ({class_name})"
        try:
            order = _ordering(cfg, default)
            new_class, new_cfg = _translate(class_name, cfg, order, where)
        except KerasConfigError as e:
            raise KerasConfigError(str(e) if str(e).startswith("layer ") else f"{where}: {e}") from e
        except (KeyError, TypeError, ValueError) as e:
            raise KerasConfigError(f"{where}: its Keras 1 config cannot be read ({type(e).__name__}: {e})") from e
        new_cfg["name"] = name
        if class_name == "Lambda":
            new_cfg = {**cfg, "name": name}
        entry: dict[str, Any] = {"class_name": new_class, "config": new_cfg, "name": name}
        if "inbound_nodes" in layer:
            entry["inbound_nodes"] = layer["inbound_nodes"]
        out_layers.append(entry)
        orders[name] = order
    inner: dict[str, Any] = {"name": (config.get("config") or {}).get("name", "model") if isinstance(
        config.get("config"), dict) else "sequential", "layers": out_layers}
    if kind == "Functional":
        inner["input_layers"] = config["config"].get("input_layers")
        inner["output_layers"] = config["config"].get("output_layers")
    return {"class_name": kind, "config": inner}, orders


def weights(spec: dict, arrays: list[np.ndarray], names: list[str] | None, order: str) -> list[np.ndarray]:
    """One layer's Keras 1 arrays in Keras 2's order and layout (kernels h, w, in, out, correlation)."""
    arrays = list(arrays)
    if spec["type"] == "conv2d" and arrays:
        kernel = arrays[0]
        if kernel.ndim == 4 and order == "th":
            kernel = kernel.transpose(2, 3, 1, 0)  # out, in, h, w -> h, w, in, out
        arrays[0] = kernel
    if spec["type"] == "batchnorm" and names and len(names) == len(arrays) == 4:
        # by name where Keras 1's names say (gamma, beta, running_mean, running_std), else as stored
        rank = {"gamma": 0, "beta": 1, "running_mean": 2, "running_std": 3}
        keys = [next((k for k in rank if n.split(":")[0].endswith(k)), None) for n in names]
        if None not in keys and len(set(keys)) == 4:
            arrays = [a for _, a in sorted(zip((rank[k] for k in keys), arrays), key=lambda t: t[0])]
    return arrays


def unflip(spec: dict, arrays: list[np.ndarray], backend: str | None) -> list[np.ndarray]:
    """Kernels saved under Theano were used flipped (convolution): flip them back for a correlation."""
    if backend == "theano" and spec["type"] == "conv2d" and arrays and arrays[0].ndim == 4:
        return [arrays[0][::-1, ::-1].copy(), *arrays[1:]]
    return arrays


def check_backend(spec: dict, backend: str | None) -> None:
    """Refuse what Theano computed differently from TensorFlow beyond the kernel flip: its 'same'
    padding was symmetric (cutting the end), equal to TensorFlow's only for odd kernels at stride 1."""
    if backend != "theano" or spec.get("padding") != "same":
        return
    where = f"layer {spec['name']!r}"
    if spec["type"] == "conv2d" and (any(k % 2 == 0 for k in spec["kernel"]) or spec["strides"] != [1, 1]):
        raise KerasConfigError(f"{where}: 'same' padding with kernel {spec['kernel']} and stride {spec['strides']} "
                               "was computed by Theano with other borders than TensorFlow's; not converted (odd "
                               "kernels at stride 1 only)")
    if spec["type"] in ("maxpool", "avgpool"):
        raise KerasConfigError(f"{where}: 'same' pooling was computed by Theano with other borders than "
                               "TensorFlow's; not converted")
