"""A Keras file -> a KerasModel with its weights: read (files), parse (config), build (layers, module)."""
from __future__ import annotations

import torch

from .config import KerasConfigError, parse_config
from .files import read_keras_file
from .layers import fill_shapes, state_of
from .module import KerasModel, _module_name, keras_module


def convert(path, *, lambdas: dict | None = None, throttle_range: float = 0.5) -> tuple[KerasModel, dict]:
    """(model in eval mode, its graph) from a Keras `.h5` or `.keras` file; errors name the path."""
    keras_file = read_keras_file(path)
    try:
        graph = parse_config(keras_file.config, lambdas)
    except KerasConfigError as e:
        raise KerasConfigError(f"{path}: {e}") from e
    state = {}
    for spec in graph["layers"]:
        arrays = keras_file.weights.get(spec["name"], [])
        if spec["type"] in ("conv2d", "dense", "batchnorm") and spec["name"] not in keras_file.weights:
            raise ValueError(f"{path}: the file has no weights for layer {spec['name']!r}")
        try:
            fill_shapes(spec, arrays)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        state.update(state_of(spec, arrays, _module_name(spec["name"]) + "."))
    try:
        model = keras_module(graph, throttle_range=throttle_range)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys or result.missing_keys:
        raise ValueError(f"{path}: the weights do not fit the layers (missing {result.missing_keys}, "
                         f"unexpected {result.unexpected_keys})")
    model.eval()
    h, w, c = graph["input"]["shape"]
    if h is not None and w is not None:
        try:
            with torch.no_grad():
                model(torch.zeros(1, c, h, w))
        except RuntimeError as e:
            raise ValueError(f"{path}: the converted model does not run on its own input shape {h}x{w}x{c} ({e})") from e
    return model, model.graph


def load_keras_model(path, *, lambdas: dict | None = None, throttle_range: float = 0.5) -> KerasModel:
    """A Keras `.h5` / `.keras` file as a plain torch module whose submodules carry the Keras layer names.

    Input B x C x H x W (channels first, like every pilotlens model); output as Keras's (a tuple for
    several outputs). Nothing from the file is executed: a Lambda layer is refused unless `lambdas`
    states what it computes as an affine map, e.g. lambdas={"lambda_1": {"scale": 1/127.5, "offset": -1.0}}
    for x / 127.5 - 1. Raises ValueError naming the path for anything it cannot convert.
    """
    return convert(path, lambdas=lambdas, throttle_range=throttle_range)[0]
