"""Parse a Keras model config (Keras 2.x or 3, Sequential or Functional) into a layer graph of plain data.

The graph is what `KerasModel` is built from, and what a pilot file stores to rebuild it:

    {"format": "pilotlens.keras-graph", "version": 1,
     "input": {"name": "img_in", "shape": [H, W, C]},          # channels-last, as Keras states it
     "layers": [{"name": "conv2d_1", "type": "conv2d", "inputs": ["img_in"], ...}, ...],  # run order
     "outputs": ["angle_out", "throttle_out"]}

Only the class name and config of each layer are read (never its Python module), so Keras 2.15's
`.keras` configs (classes under `keras.src.engine`, which Keras 3 refuses) parse like the others.
The two layouts differ in: InputLayer `batch_input_shape` (2) vs `batch_shape` (3); inbound nodes as
`[[["name", 0, 0, {}]]]` (2) vs `[{"args": [<keras tensor with keras_history>], "kwargs": {}}]` (3);
LeakyReLU `alpha` (2) vs `negative_slope` (3); BatchNormalization `axis` as `[3]` (2) or `-1`.
Keras 2.0-2.2.4 wrote a Sequential's `config` as the layer list itself; Keras 1 did too, with its own
layer keys and orderings, which `keras1.translate` turns into Keras 2 terms first.

A Flatten spec may say `"order": "channels_first"` (a Keras 1 `dim_ordering: th` model flattens C, H, W);
graphs holding one are version 2, so that a pilotlens that flattens channels-last only refuses them.
"""
from __future__ import annotations

from typing import Any

from . import keras1
from .errors import KerasConfigError

GRAPH_FORMAT = "pilotlens.keras-graph"
GRAPH_VERSION = 2

#: Keras activation names -> the spec KerasModel builds a module from
_ACTIVATIONS = {"linear", "relu", "relu6", "elu", "selu", "sigmoid", "tanh", "softmax", "softplus",
                "softsign", "swish", "silu", "gelu", "leaky_relu", "mish", "log_softmax"}
_MERGES = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
           "Maximum": "maximum", "Minimum": "minimum"}
SUPPORTED = ("InputLayer, Conv2D, Dense, Flatten, Dropout, SpatialDropout2D, Activation, ReLU, ELU, LeakyReLU, "
             "Softmax, BatchNormalization, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, "
             "GlobalMaxPooling2D, Cropping2D, ZeroPadding2D, Rescaling, Reshape, Concatenate, Add, Subtract, "
             "Multiply, Average, Maximum, Minimum, and Lambda given as lambdas=")


def _pair(v, what: str) -> list[int]:
    if isinstance(v, (int, float)):
        return [int(v), int(v)]
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return [int(v[0]), int(v[1])]
    raise KerasConfigError(f"{what} must be one number or two, got {v!r}")


def activation(value: Any, where: str) -> dict:
    """A Keras activation (a name, or Keras 3's {"class_name": "function", "config": name}) as a spec."""
    if isinstance(value, dict):
        value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
    name = "linear" if value in (None, "") else str(value)
    if name not in _ACTIVATIONS:
        raise KerasConfigError(f"{where}: activation {name!r} is not supported (supported: {', '.join(sorted(_ACTIVATIONS))})")
    if name == "silu":
        name = "swish"
    spec: dict[str, Any] = {"fn": name}
    if name == "elu":
        spec["alpha"] = 1.0
    if name == "leaky_relu":
        spec["slope"] = 0.2  # keras.activations.leaky_relu's default negative_slope
    if name in ("softmax", "log_softmax"):
        spec["axis"] = -1
    return spec


def _channels_last(cfg: dict, where: str) -> None:
    if cfg.get("data_format") not in (None, "channels_last"):
        raise KerasConfigError(f"{where}: data_format {cfg.get('data_format')!r} is not supported (channels_last only)")


def _padding(cfg: dict, where: str) -> str:
    pad = str(cfg.get("padding", "valid")).lower()
    if pad not in ("valid", "same"):
        raise KerasConfigError(f"{where}: padding {pad!r} is not supported (valid or same)")
    return pad


def _axis(value) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise KerasConfigError(f"only one normalisation axis is supported, got {value!r}")
        value = value[0]
    return int(value)


def layer_spec(class_name: str, cfg: dict, name: str, lambdas: dict) -> dict:
    """One layer's spec (without inputs): what KerasModel needs to build it, in plain data."""
    where = f"layer {name!r} ({class_name})"
    c = class_name
    if c in ("Conv2D", "Convolution2D"):
        _channels_last(cfg, where)
        return {"type": "conv2d", "filters": int(cfg["filters"]), "kernel": _pair(cfg["kernel_size"], where),
                "strides": _pair(cfg.get("strides", 1), where), "padding": _padding(cfg, where),
                "dilation": _pair(cfg.get("dilation_rate", 1), where), "groups": int(cfg.get("groups", 1) or 1),
                "use_bias": bool(cfg.get("use_bias", True)), "activation": activation(cfg.get("activation"), where)}
    if c == "Dense":
        return {"type": "dense", "units": int(cfg["units"]), "use_bias": bool(cfg.get("use_bias", True)),
                "activation": activation(cfg.get("activation"), where)}
    if c == "Activation":
        return {"type": "activation", "activation": activation(cfg.get("activation"), where)}
    if c == "ReLU":
        max_value = cfg.get("max_value")
        slope = float(cfg.get("negative_slope", 0.0) or 0.0)
        if float(cfg.get("threshold", 0.0) or 0.0) != 0.0:
            raise KerasConfigError(f"{where}: a ReLU threshold other than 0 is not supported")
        if max_value is not None and (float(max_value) != 6.0 or slope != 0.0):
            raise KerasConfigError(f"{where}: ReLU max_value other than 6 (or with a negative slope) is not supported")
        if max_value is not None:
            return {"type": "activation", "activation": {"fn": "relu6"}}
        if slope:
            return {"type": "activation", "activation": {"fn": "leaky_relu", "slope": slope}}
        return {"type": "activation", "activation": {"fn": "relu"}}
    if c == "ELU":
        return {"type": "activation", "activation": {"fn": "elu", "alpha": float(cfg.get("alpha", 1.0))}}
    if c == "LeakyReLU":
        slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
        return {"type": "activation", "activation": {"fn": "leaky_relu", "slope": float(slope)}}
    if c == "Softmax":
        return {"type": "activation", "activation": {"fn": "softmax", "axis": _axis(cfg.get("axis", -1))}}
    if c in ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout"):
        # all of these are the identity at inference, which is all pilotlens runs
        return {"type": "dropout", "rate": float(cfg.get("rate", cfg.get("stddev", 0.0)) or 0.0),
                "spatial": c == "SpatialDropout2D"}
    if c == "BatchNormalization":
        axis = _axis(cfg.get("axis", -1))
        if axis not in (-1, 3, 1):
            raise KerasConfigError(f"{where}: normalisation over axis {axis} is not supported (the channel axis only)")
        return {"type": "batchnorm", "epsilon": float(cfg.get("epsilon", 1e-3)), "center": bool(cfg.get("center", True)),
                "scale": bool(cfg.get("scale", True)), "axis": axis}
    if c in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
        _channels_last(cfg, where)
        pool = _pair(cfg.get("pool_size", 2), where)
        strides = cfg.get("strides")
        return {"type": "maxpool" if c.startswith("Max") else "avgpool", "pool": pool,
                "strides": pool if strides is None else _pair(strides, where), "padding": _padding(cfg, where)}
    if c in ("GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D"):
        _channels_last(cfg, where)
        return {"type": "globalpool", "mode": "max" if "Max" in c else "avg", "keepdims": bool(cfg.get("keepdims", False))}
    if c == "Cropping2D":
        _channels_last(cfg, where)
        crop = cfg.get("cropping", ((0, 0), (0, 0)))
        if isinstance(crop, int):
            crop = ((crop, crop), (crop, crop))
        (top, bottom), (left, right) = (_pair(v, where) for v in crop)
        return {"type": "crop", "crop": [top, bottom, left, right]}
    if c == "Flatten":
        _channels_last(cfg, where)
        return {"type": "flatten"}
    if c == "Reshape":
        return {"type": "reshape", "target": [int(v) for v in cfg["target_shape"]]}
    if c == "Rescaling":
        return {"type": "affine", "scale": _number_or_list(cfg.get("scale", 1.0), where),
                "offset": _number_or_list(cfg.get("offset", 0.0), where)}
    if c == "Concatenate":
        return {"type": "concat", "axis": int(cfg.get("axis", -1))}
    if c in _MERGES:
        return {"type": "merge", "op": _MERGES[c]}
    if c == "ZeroPadding2D":
        _channels_last(cfg, where)
        pad = cfg.get("padding", 1)
        if isinstance(pad, int):
            pad = ((pad, pad), (pad, pad))
        (top, bottom), (left, right) = (_pair(v, where) for v in pad)
        return {"type": "zeropad", "pad": [top, bottom, left, right]}
    if c == "Lambda":
        if name not in lambdas:
            raise KerasConfigError(
                f"{where}: a Lambda layer holds Python code, which pilotlens never runs. State what it computes "
                f"as an affine map x*scale+offset, e.g. lambdas={{{name!r}: {{'scale': 1/127.5, 'offset': -1.0}}}} "
                f"(on the command line: --lambda {name}=0.0078431373,-1.0 for x/127.5 - 1)")
        given = lambdas[name]
        if not isinstance(given, dict) or set(given) - {"scale", "offset"}:
            raise KerasConfigError(f"lambdas[{name!r}] must be a dict with 'scale' and 'offset', got {given!r}")
        return {"type": "affine", "scale": _number_or_list(given.get("scale", 1.0), where),
                "offset": _number_or_list(given.get("offset", 0.0), where), "from_lambda": True}
    raise KerasConfigError(f"{where} is not supported, and pilotlens never skips a layer; supported: {SUPPORTED}")


def _number_or_list(v, where: str):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v):
        return [float(x) for x in v]
    raise KerasConfigError(f"{where}: expected a number or a list of numbers, got {v!r}")


# -- graph ---------------------------------------------------------------------------------
def _history(value, out: list[str]) -> None:
    """Collect inbound layer names from Keras 3 call arguments (keras tensors, nested in lists)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, tensor = value["config"]["keras_history"]
            if node != 0 or tensor != 0:
                raise KerasConfigError(f"layer {layer!r} is called more than once or has several outputs (shared "
                                       "layers are not supported)")
            out.append(layer)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _history(v, out)


def _inbound(layer: dict, name: str) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise KerasConfigError(f"layer {name!r} is called {len(nodes)} times (shared layers are not supported)")
    if not nodes:
        return []
    node = nodes[0]
    names: list[str] = []
    if isinstance(node, dict):  # Keras 3
        _history(node.get("args", []), names)
    else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        for entry in node:
            if entry[1] != 0 or entry[2] != 0:
                raise KerasConfigError(f"layer {name!r} reads a shared layer's output (not supported)")
            names.append(str(entry[0]))
    return names


def _endpoints(value) -> list[str]:
    """input_layers / output_layers: [name, 0, 0] (one, Keras 3) or [[name, 0, 0], ...]."""
    if not value:
        return []
    if isinstance(value[0], str):
        value = [value]
    return [str(v[0]) for v in value]


def _batch_shape(cfg: dict) -> list | None:
    for key in ("batch_shape", "batch_input_shape"):
        if cfg.get(key):
            return list(cfg[key])[1:]
    if cfg.get("shape"):
        return list(cfg["shape"])
    return None


def _input_shape(shape: list | None, where: str) -> list:
    if shape is None:
        raise KerasConfigError(f"{where}: the model states no input shape; save it with an Input layer, e.g. "
                               "keras.Sequential([keras.Input((120, 160, 3)), ...])")
    if len(shape) != 3:
        raise KerasConfigError(f"{where}: the input has shape {shape}; pilotlens explains image models (H x W x C)")
    return [None if v is None else int(v) for v in shape]


def parse_config(config: dict, lambdas: dict | None = None, keras_version: str | None = None) -> dict:
    """The layer graph (plain data, see the module docstring) of a Keras model config (Keras 1, 2 or 3).

    Raises KerasConfigError (a ValueError) for a Lambda not stated in `lambdas`, an unsupported
    layer, several inputs, shared layers, or a Sequential with no input shape.
    """
    return parse_with_orders(config, lambdas, keras_version)[0]


def parse_with_orders(config: dict, lambdas: dict | None = None,
                      keras_version: str | None = None) -> tuple[dict, dict[str, str]]:
    """(graph, {layer name: "th" | "tf"}): parse_config, and for a Keras 1 config each layer's
    dim_ordering (how its kernel is stored); {} for Keras 2 and 3 (always channels-last kernels)."""
    if not isinstance(config, dict):
        raise KerasConfigError(f"the model config is a {type(config).__name__}, not a JSON object")
    if not keras1.is_keras1(config, keras_version):
        return _parse(config, lambdas), {}
    translated, orders = keras1.translate(config)
    graph = _parse(translated, lambdas)
    for spec in graph["layers"]:
        if spec["type"] == "flatten" and orders.get(spec["name"]) == "th":
            spec["order"] = "channels_first"
    if any(spec.get("order") == "channels_first" for spec in graph["layers"]):
        graph["version"] = GRAPH_VERSION  # older readers flatten channels-last only: they must refuse it
    return graph, orders


def _parse(config: dict, lambdas: dict | None) -> dict:
    lambdas = dict(lambdas or {})
    kind = config.get("class_name")
    inner = config.get("config")
    if kind == "Sequential" and isinstance(inner, list):  # Keras 2.0-2.2.4: the layer list itself
        inner = {"layers": inner}
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(inner, dict) or "layers" not in inner:
        raise KerasConfigError(f"the model is a {kind!r}, not a Sequential or Functional model with a layer list "
                               "(a subclassed Keras model has no layer graph in its file)")
    layers = inner["layers"]
    if kind == "Sequential":
        graph = _sequential(inner, layers, lambdas)
    else:
        graph = _functional(inner, layers, lambdas)
    unknown = set(lambdas) - {l["name"] for l in graph["layers"] if l.get("from_lambda")}
    if unknown:
        raise KerasConfigError(f"lambdas names {sorted(unknown)}, which are not Lambda layers of this model")
    return graph


def _layer_spec(layer: dict, name: str, lambdas: dict) -> dict:
    """layer_spec, with a config missing what Keras 2 and 3 always write (a Keras 1 file) as a clear error."""
    class_name = str(layer.get("class_name"))
    try:
        return layer_spec(class_name, layer.get("config") or {}, name, lambdas)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, KerasConfigError):
            raise
        raise KerasConfigError(f"layer {name!r} ({class_name}): its config cannot be read ({type(e).__name__}: {e}); "
                               "files from Keras 1, 2 and 3 are supported") from e


def _name(layer: dict) -> str:
    return str(layer.get("config", {}).get("name") or layer.get("name"))


def _sequential(inner: dict, layers: list, lambdas: dict) -> dict:
    shape, input_name = None, "input"
    body = []
    for layer in layers:
        if layer.get("class_name") == "InputLayer":
            shape, input_name = _batch_shape(layer.get("config", {})), _name(layer)
        else:
            body.append(layer)
    if shape is None and body:
        shape = _batch_shape(body[0].get("config", {}))
    if shape is None and inner.get("build_input_shape"):
        shape = list(inner["build_input_shape"])[1:]
    shape = _input_shape(shape, "Sequential model")
    specs, previous = [], input_name
    for layer in body:
        name = _name(layer)
        spec = {"name": name, **_layer_spec(layer, name, lambdas), "inputs": [previous]}
        specs.append(spec)
        previous = name
    if not specs:
        raise KerasConfigError("the Sequential model has no layers")
    return {"format": GRAPH_FORMAT, "version": 1, "input": {"name": input_name, "shape": shape},
            "layers": specs, "outputs": [previous]}


def _functional(inner: dict, layers: list, lambdas: dict) -> dict:
    inputs = _endpoints(inner.get("input_layers"))
    if len(inputs) != 1:
        raise KerasConfigError(f"the model has {len(inputs)} inputs ({inputs}); pilotlens explains models with one "
                               "image input")
    by_name = {_name(l): l for l in layers}
    first = by_name.get(inputs[0])
    if first is None or first.get("class_name") != "InputLayer":
        raise KerasConfigError(f"the model's input {inputs[0]!r} is not an InputLayer")
    shape = _input_shape(_batch_shape(first.get("config", {})), f"input {inputs[0]!r}")
    specs = {}
    for layer in layers:
        name = _name(layer)
        if layer.get("class_name") == "InputLayer":
            if name != inputs[0]:
                raise KerasConfigError(f"input layer {name!r} is not the model's input")
            continue
        spec = {"name": name, **_layer_spec(layer, name, lambdas)}
        spec["inputs"] = _inbound(layer, name)
        if not spec["inputs"]:
            raise KerasConfigError(f"layer {name!r} has no inputs")
        specs[name] = spec
    outputs = _endpoints(inner.get("output_layers"))
    if not outputs:
        raise KerasConfigError("the model names no outputs")
    # run order: Keras lists layers in a valid order already; check it rather than trust it
    known = {inputs[0]}
    for name, spec in specs.items():
        missing = [i for i in spec["inputs"] if i not in known]
        if missing:
            raise KerasConfigError(f"layer {name!r} reads {missing}, which come later or do not exist")
        known.add(name)
    for o in outputs:
        if o not in specs:
            raise KerasConfigError(f"output {o!r} is not a layer of the model")
    return {"format": GRAPH_FORMAT, "version": 1, "input": {"name": inputs[0], "shape": shape},
            "layers": list(specs.values()), "outputs": outputs}
