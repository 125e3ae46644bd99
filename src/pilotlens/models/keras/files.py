"""Read a Keras model file with h5py: its model config (JSON) and its weight arrays, per layer.

Two containers hold Keras models:

- legacy HDF5 (`.h5`, Keras 2 and 3 `model.save("x.h5")`): the root attribute `model_config` is the
  JSON config; the group `model_weights` has one group per layer (attribute `layer_names` lists
  them) whose attribute `weight_names` lists its arrays in the layer's own order ("conv2d/kernel:0"
  in Keras 2, "conv2d/kernel" in Keras 3), each a dataset at that path inside the layer's group.
- the `.keras` zip (Keras 2.13+ and 3): `config.json` (the config) and `model.weights.h5`, where
  layer k of the model's `layers` list keeps its arrays at `layers/<key>/vars/0, 1, ...`; <key> is
  the layer's class name in snake case, made unique by "_1", "_2", ... in list order (Keras's
  saving_lib `_save_container_state`); Keras 3.x also stores the layer's name as the `name`
  attribute of `vars`, which is used when present.

Nothing in the file is executed: the config is parsed as JSON, the weights read as arrays.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class KerasFile:
    """What a Keras file holds: the model config, its arrays per layer name, and where it came from."""

    path: str
    config: dict
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    keras_version: str = "unknown"
    container: str = "h5"  # "h5" or "keras"


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a runtime dependency
        raise ImportError("reading Keras files needs h5py (pip install h5py)") from e
    return h5py


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC):
        return "keras"
    # HDF5 allows a user block of 512, 1024, ... bytes before the signature
    if head == HDF5_MAGIC:
        return "h5"
    size = path.stat().st_size
    with open(path, "rb") as f:
        offset = 512
        while offset + 8 <= size:
            f.seek(offset)
            if f.read(8) == HDF5_MAGIC:
                return "h5"
            offset *= 2
    raise ValueError(f"{path}: not a Keras model file: it is neither HDF5 (.h5) nor a zip (.keras)")


def read_keras_file(path) -> KerasFile:
    """The config and weights of a Keras `.h5` or `.keras` file, or a ValueError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Keras model file {path}")
    kind = _kind(path)
    return _read_zip(path) if kind == "keras" else _read_h5(path)


# -- legacy HDF5 -------------------------------------------------------------------------------
def _read_h5(path: Path) -> KerasFile:
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: the HDF5 file is truncated or damaged and cannot be read ({e})") from e
    try:
        with f:
            if "model_config" not in f.attrs:
                if "layer_names" in f.attrs or "model_weights" in f or "layers" in f:
                    raise ValueError(f"{path}: this file holds weights only (saved with save_weights), not the "
                                     "model's architecture; save the whole model (model.save('mypilot.h5') or "
                                     "'.keras'), or build the architecture yourself and load these weights into it")
                raise ValueError(f"{path}: an HDF5 file without a Keras model config (no 'model_config' "
                                 "attribute): not a Keras model saved with model.save")
            config = _json(_text(f.attrs["model_config"]), path, "model_config")
            version = _text(f.attrs.get("keras_version", "unknown"))
            group = f["model_weights"] if "model_weights" in f else f
            weights = {}
            for name in (_text(n) for n in _attribute_list(group, "layer_names")):
                layer = group[name]
                names = [_text(n) for n in _attribute_list(layer, "weight_names")]
                weights[name] = [np.asarray(layer[w]) for w in names]
    except ValueError:
        raise
    except (OSError, KeyError, RuntimeError) as e:
        raise ValueError(f"{path}: the HDF5 file is truncated or damaged: reading its weights failed ({e})") from e
    return KerasFile(str(path), config, weights, version, "h5")


def _attribute_list(group, name: str) -> list:
    """An HDF5 list attribute as Keras writes it: whole, or, when over HDF5's 64 KB attribute limit,
    in chunks name0, name1, ... (Keras's save_attributes_to_hdf5_group)."""
    if name in group.attrs:
        return list(group.attrs[name])
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out += list(group.attrs[f"{name}{i}"])
        i += 1
    return out


def _json(text: str, path: Path, what: str) -> dict:
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: the model's {what} is not valid JSON ({e})") from e
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the model's {what} is not a JSON object")
    return config


# -- the .keras zip ----------------------------------------------------------------------------
def _read_zip(path: Path) -> KerasFile:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise ValueError(f"{path}: a zip without config.json: not a Keras .keras model file")
            config = _json(z.read("config.json").decode("utf-8"), path, "config.json")
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
            if "model.weights.h5" not in names:
                raise ValueError(f"{path}: the .keras file has no model.weights.h5 (only HDF5 weights are read; "
                                 f"found {sorted(names)})")
            blob = z.read("model.weights.h5")
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: the .keras zip is truncated or damaged ({e})") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: the .keras file's metadata.json is not valid JSON ({e})") from e
    h5py = _h5py()
    try:
        with h5py.File(io.BytesIO(blob), "r") as f:
            stored = {}
            if "layers" in f:
                for key, group in f["layers"].items():
                    vars_ = group.get("vars")
                    arrays = [np.asarray(vars_[str(i)]) for i in range(len(vars_))] if vars_ is not None else []
                    name = _text(vars_.attrs["name"]) if vars_ is not None and "name" in vars_.attrs else None
                    stored[key] = (name, arrays)
    except OSError as e:
        raise ValueError(f"{path}: the weights inside the .keras file are damaged ({e})") from e
    weights = _by_layer_name(stored, config, path)
    return KerasFile(str(path), config, weights, str(meta.get("keras_version", "unknown")), "keras")


def snake_case(name: str) -> str:
    """Keras's naming.to_snake_case: 'BatchNormalization' -> 'batch_normalization', 'Conv2D' -> 'conv2d'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _by_layer_name(stored: dict, config: dict, path: Path) -> dict[str, list[np.ndarray]]:
    """Map the zip's `layers/<key>` groups to layer names: by the stored name where Keras wrote one,
    else by recomputing the keys from the config's layer list (see the module docstring)."""
    out = {}
    if stored and all(name is not None for name, _ in stored.values()):
        return {name: arrays for name, arrays in stored.values()}
    inner = config.get("config", {})
    layers = inner.get("layers", []) if isinstance(inner, dict) else []
    if config.get("class_name") == "Sequential":  # Sequential.layers leaves its InputLayer out
        layers = [l for l in layers if l.get("class_name") != "InputLayer"]
    used: dict[str, int] = {}
    for layer in layers:
        key = snake_case(str(layer.get("class_name", "")))
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        name = layer.get("config", {}).get("name") or layer.get("name")
        if key in stored:
            out[name] = stored[key][1]
    return out
