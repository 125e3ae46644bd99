"""A Keras file -> a KerasModel with its weights: read (files), parse (config), build (layers, module).

Also a Keras JSON architecture (`model.to_json()`) with a weights-only file (`model.save_weights`),
which is the same conversion with the config and the arrays from two files.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from . import keras1
from .config import KerasConfigError, parse_with_orders
from .files import KerasFile, read_keras_file, read_weights_only
from .layers import Declared, fill_shapes, state_of
from .module import KerasModel, _module_name, keras_module

WEIGHTED = ("conv2d", "dense", "batchnorm")


def _parse(where, config: dict, lambdas, version: str | None) -> tuple[dict, dict]:
    try:
        return parse_with_orders(config, lambdas, version)
    except KerasConfigError as e:
        raise KerasConfigError(f"{where}: {e}") from e


def _layer_arrays(where, spec: dict, weights: dict, names: dict, orders: dict, backend) -> list:
    """One layer's arrays (or Declared shapes) in Keras 2's layout; checked against its config."""
    if spec["type"] in WEIGHTED and spec["name"] not in weights:
        raise ValueError(f"{where}: the file has no weights for layer {spec['name']!r}")
    arrays = weights.get(spec["name"], [])
    if spec["name"] in orders:
        arrays = keras1.weights(spec, arrays, names.get(spec["name"]), orders[spec["name"]])
    try:
        fill_shapes(spec, arrays)
        keras1.check_backend(spec, backend)
    except ValueError as e:
        raise type(e)(f"{where}: {e}") from e
    return keras1.unflip(spec, arrays, backend)


def _expect(where, lambdas):
    """read_keras_file's `expect`: the declared shapes must fit the layer config, before any read."""
    def expect(config, version, declared):
        graph, orders = _parse(where, config, lambdas, version)
        shapes = {name: [Declared(s) for _, s in ws] for name, ws in declared}
        names = {name: [w for w, _ in ws] for name, ws in declared}
        for spec in graph["layers"]:
            _layer_arrays(where, spec, shapes, names, orders, None)
    return expect


def build(keras_file: KerasFile, lambdas: dict | None = None, throttle_range: float = 0.5) -> tuple[KerasModel, dict]:
    """(model in eval mode, its graph) from what a Keras file holds; errors name `keras_file.path`."""
    where = keras_file.path
    graph, orders = _parse(where, keras_file.config, lambdas, keras_file.keras_version)
    state = {}
    for spec in graph["layers"]:
        arrays = _layer_arrays(where, spec, keras_file.weights, keras_file.weight_names, orders, keras_file.backend)
        state.update(state_of(spec, arrays, _module_name(spec["name"]) + "."))
    try:
        model = keras_module(graph, throttle_range=throttle_range)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from e
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys or result.missing_keys:
        raise ValueError(f"{where}: the weights do not fit the layers (missing {result.missing_keys}, "
                         f"unexpected {result.unexpected_keys})")
    model.eval()
    h, w, c = graph["input"]["shape"]
    if h is not None and w is not None:
        try:
            with torch.no_grad():
                model(torch.zeros(1, c, h, w))
        except RuntimeError as e:
            raise ValueError(f"{where}: the converted model does not run on its own input shape {h}x{w}x{c} ({e})") from e
    return model, model.graph


def convert(path, *, lambdas: dict | None = None, throttle_range: float = 0.5, weights=None) -> tuple[KerasModel, dict]:
    """(model in eval mode, its graph) from a Keras `.h5` or `.keras` file; errors name the path.

    With `weights`, `path` is a Keras JSON architecture (model.to_json()) and `weights` the
    weights-only file (model.save_weights) whose layer names are the architecture's."""
    if weights is not None:
        return build(read_architecture(path, weights, lambdas), lambdas, throttle_range)
    return build(read_keras_file(path, _expect(path, lambdas)), lambdas, throttle_range)


def read_json_config(path) -> dict:
    """A Keras JSON architecture file, as a config dict ({"class_name": ..., "config": ...})."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Keras architecture file {path}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a Keras JSON architecture (model.to_json()): {e}") from e
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"{path}: not a Keras JSON architecture: expected {{\"class_name\": ..., \"config\": ...}}")
    return config


def read_architecture(arch_path, weights_path, lambdas: dict | None = None) -> KerasFile:
    """A KerasFile from a JSON architecture and a weights-only file, matched by layer name."""
    config = read_json_config(arch_path)
    where = f"{weights_path} (weights for {arch_path})"
    version = config.get("keras_version")

    def expect(_config, file_version, declared):
        _expect(where, lambdas)(config, version or file_version, declared)

    stored = read_weights_only(weights_path, expect)
    weights = {name: [a for _, a in ws] for name, ws in stored.layers}
    names = {name: [w for w, _ in ws] for name, ws in stored.layers}
    return KerasFile(where, config, weights, version or stored.keras_version, "h5", stored.backend, names)


def load_keras_model(path, *, lambdas: dict | None = None, throttle_range: float = 0.5, weights=None) -> KerasModel:
    """A Keras `.h5` / `.keras` file as a plain torch module whose submodules carry the Keras layer names.

    Input B x C x H x W (channels first, like every pilotlens model); output as Keras's (a tuple for
    several outputs). Nothing from the file is executed: a Lambda layer is refused unless `lambdas`
    states what it computes as an affine map, e.g. lambdas={"lambda_1": {"scale": 1/127.5, "offset": -1.0}}
    for x / 127.5 - 1. Keras 1 files (either dim_ordering, TensorFlow or Theano) convert too. With
    `weights`, `path` is a JSON architecture and `weights` a weights-only file. Raises ValueError naming
    the path for anything it cannot convert.
    """
    return convert(path, lambdas=lambdas, throttle_range=throttle_range, weights=weights)[0]


__all__ = ["build", "convert", "load_keras_model", "read_architecture", "read_json_config"]
