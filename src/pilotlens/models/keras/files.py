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

Keras 1 wrote the same HDF5 layout; its weight names are "<layer>_W:0" / "<layer>_b:0" (TensorFlow)
or "<layer>_W" (Theano), datasets at the root of the layer's group, and `model_weights` (or the root
of a weights-only file) carries a `backend` attribute, which says whether kernels were flipped.

Weights-only files (`model.save_weights`) hold no config: Keras 1/2 `.h5` have the layer groups at
the root (attribute `layer_names`), Keras 3 `.weights.h5` the `layers/<key>/vars` groups of the zip
layout. `read_weights_only` reads them, layer by layer, in the file's order.

Nothing in the file is executed: the config is parsed as JSON, the weights read as arrays, and
every dataset's declared shape and size is checked before it is read (`MAX_BYTES`).
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: the most bytes of weights read from one file: a declared shape above it is refused before reading
#: (the largest Keras image models, VGG-19 and the like, hold about 0.6 GB)
MAX_BYTES = 2 * 1024 ** 3
ZIP_MAGIC = b"PK\x03\x04"
#: the most bytes of a model's JSON config (real ones are a few hundred KB at most)
MAX_CONFIG_BYTES = 64 * 1024 ** 2
#: the most a zip member may inflate, relative to its stored size: weights barely compress, and a
#: member of zeros that inflates thousands of times is a bomb, not a model
MAX_RATIO = 200


@dataclass
class KerasFile:
    """What a Keras file holds: the model config, its arrays per layer name, and where it came from."""

    path: str
    config: dict
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    keras_version: str = "unknown"
    container: str = "h5"  # "h5" or "keras"
    backend: str | None = None  # the backend that saved it, where the file says ("theano" flips kernels)
    weight_names: dict[str, list[str]] = field(default_factory=dict)  # as stored (h5 only)


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


#: expect(config or None, keras_version, [(layer name, [(weight name, shape), ...]), ...]) raises
#: ValueError when the declared shapes do not fit; it runs after the sizes are checked, before any read
Expect = Callable[[Optional[dict], str, list], None]


def read_keras_file(path, expect: Expect | None = None) -> KerasFile:
    """The config and weights of a Keras `.h5` or `.keras` file, or a ValueError naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Keras model file {path}")
    kind = _kind(path)
    return _read_zip(path, expect) if kind == "keras" else _read_h5(path, expect)


# -- legacy HDF5 -------------------------------------------------------------------------------
def _open_h5(path: Path):
    h5py = _h5py()
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: the HDF5 file is truncated or damaged and cannot be read ({e})") from e


def _is_weights_only(f) -> bool:
    return "model_config" not in f.attrs and ("layer_names" in f.attrs or "model_weights" in f or "layers" in f)


def _read_h5(path: Path, expect: Expect | None = None) -> KerasFile:
    f = _open_h5(path)
    try:
        with f:
            if "model_config" not in f.attrs:
                if _is_weights_only(f):
                    raise ValueError(f"{path}: this file holds weights only (saved with save_weights), not the "
                                     "model's architecture; give the architecture with these weights: --model "
                                     f"pilotnet --weights {path.name} (a zoo name, a FILE.py:Class, or a Keras JSON "
                                     "file from model.to_json()), or save the whole model with model.save")
                raise ValueError(f"{path}: an HDF5 file without a Keras model config (no 'model_config' "
                                 "attribute): not a Keras model saved with model.save")
            stored = f.attrs.get_id("model_config").get_storage_size()     # before the attribute is read
            if stored > MAX_CONFIG_BYTES:
                raise ValueError(f"{path}: the model_config attribute holds {stored / 2**20:.0f} MiB, over the "
                                 f"{MAX_CONFIG_BYTES / 2**20:.0f} MiB a model config may hold here")
            config = _json(_text(f.attrs["model_config"]), path, "model_config")
            version = _text(f.attrs.get("keras_version", "unknown"))
            group = f["model_weights"] if "model_weights" in f else f
            backend = _backend(group, f)
            layers = _read_layers(group, path, config, version, expect)
    except ValueError:
        raise
    except (OSError, KeyError, RuntimeError) as e:
        raise ValueError(f"{path}: the HDF5 file is truncated or damaged: reading its weights failed ({e})") from e
    return KerasFile(str(path), config, {n: [a for _, a in ws] for n, ws in layers}, version, "h5", backend,
                     {n: [w for w, _ in ws] for n, ws in layers})


def _backend(group, root) -> str | None:
    """The backend that saved the weights: on the weights group (Keras 1.2+, 2, 3), or the file root."""
    for where in (group, root):
        if "backend" in where.attrs:
            return _text(where.attrs["backend"]).lower()
    return None


def declared_layers(group) -> list[tuple[str, list[tuple[str, object]]]]:
    """[(layer name, [(weight name, h5py dataset), ...]), ...] in `layer_names` order: nothing read yet."""
    out = []
    for name in (_text(n) for n in _attribute_list(group, "layer_names")):
        layer = group[name]
        out.append((name, [(w, layer[w]) for w in (_text(n) for n in _attribute_list(layer, "weight_names"))]))
    return out


def check_sizes(path, datasets, limit: int | None = None) -> None:
    """Refuse, before reading anything, a dataset that is not numeric or whose declared size (alone or
    with the others) exceeds `limit` bytes (MAX_BYTES): a damaged or hostile file cannot fill memory."""
    limit = MAX_BYTES if limit is None else limit
    total = 0
    for where, ds in datasets:
        kind = getattr(ds.dtype, "kind", "")
        if kind not in "fiub" or not kind:
            raise ValueError(f"{path}: dataset {where} holds {ds.dtype} values, not numbers; refused")
        size = int(ds.size) * int(ds.dtype.itemsize)
        total += size
        if size > limit or total > limit:
            raise ValueError(f"{path}: dataset {where} declares shape {tuple(ds.shape)} ({size / 2**20:.1f} MiB; "
                             f"{total / 2**20:.1f} MiB so far), over the {limit / 2**20:.0f} MiB a model file may "
                             "hold here; refused before reading")


def _read_layers(group, path, config: dict | None, version: str,
                 expect: Expect | None) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
    """[(layer name, [(weight name, array), ...]), ...]: sizes checked, then `expect`, then read."""
    layers = declared_layers(group)
    check_sizes(path, [(f"{name}/{w}", ds) for name, ws in layers for w, ds in ws])
    if expect is not None:
        expect(config, version, [(name, [(w, tuple(ds.shape)) for w, ds in ws]) for name, ws in layers])
    return [(name, [(w, np.asarray(ds[()])) for w, ds in ws]) for name, ws in layers]


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
    from ...limits import check_json_depth
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: the model's {what} holds {len(text) / 2**20:.0f} MiB of text, over the "
                         f"{MAX_CONFIG_BYTES / 2**20:.0f} MiB a model config may hold here")
    check_json_depth(text, f"{path}: the model's {what}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: the model's {what} is not valid JSON ({e})") from e
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the model's {what} is not a JSON object")
    return config


# -- the .keras zip ----------------------------------------------------------------------------
def _member(z: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    """A zip member's bytes, after its declared size and its inflation ratio are checked (a zip bomb is
    refused before anything is inflated; zipfile never inflates past the declared size)."""
    info = z.getinfo(name)
    if info.file_size > limit:
        raise ValueError(f"{path}: {name} declares {info.file_size / 2**20:.1f} MiB, over the {limit / 2**20:.0f} MiB "
                         "it may hold here; refused before reading")
    if info.file_size > 1024 ** 2 and info.file_size > MAX_RATIO * max(1, info.compress_size):
        raise ValueError(f"{path}: {name} would inflate {info.file_size / max(1, info.compress_size):,.0f} times "
                         f"(from {info.compress_size:,} to {info.file_size:,} bytes), more than a model file does "
                         f"(at most {MAX_RATIO}); refused before reading")
    return z.read(name)


def _read_zip(path: Path, expect: Expect | None = None) -> KerasFile:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise ValueError(f"{path}: a zip without config.json: not a Keras .keras model file")
            config = _json(_member(z, "config.json", MAX_CONFIG_BYTES, path).decode("utf-8"), path, "config.json")
            meta = (_json(_member(z, "metadata.json", MAX_CONFIG_BYTES, path).decode("utf-8"), path, "metadata.json")
                    if "metadata.json" in names else {})
            if "model.weights.h5" not in names:
                raise ValueError(f"{path}: the .keras file has no model.weights.h5 (only HDF5 weights are read; "
                                 f"found {sorted(names)})")
            blob = _member(z, "model.weights.h5", MAX_BYTES, path)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{path}: the .keras zip is truncated or damaged ({e})") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: the .keras file's metadata.json is not valid JSON ({e})") from e
    h5py = _h5py()
    try:
        with h5py.File(io.BytesIO(blob), "r") as f:
            stored = _read_vars(f, path, config, str(meta.get("keras_version", "unknown")), expect)
    except (OSError, KeyError) as e:
        raise ValueError(f"{path}: the weights inside the .keras file are damaged ({e})") from e
    weights = _by_layer_name(stored, config, path)
    return KerasFile(str(path), config, weights, str(meta.get("keras_version", "unknown")), "keras")


def _read_vars(f, path, config: dict, version: str,
               expect: Expect | None) -> dict[str, tuple[str | None, list[np.ndarray]]]:
    """{key: (stored layer name or None, arrays)} of Keras 3's `layers/<key>/vars/<i>` groups."""
    declared = {}
    if "layers" in f:
        for key, group in f["layers"].items():
            vars_ = group.get("vars")
            datasets = [vars_[str(i)] for i in range(len(vars_))] if vars_ is not None else []
            name = _text(vars_.attrs["name"]) if vars_ is not None and "name" in vars_.attrs else None
            declared[key] = (name, datasets)
    check_sizes(path, [(f"layers/{k}/vars/{i}", ds) for k, (_, dss) in declared.items() for i, ds in enumerate(dss)])
    if expect is not None:
        shapes = {k: (name, [tuple(ds.shape) for ds in dss]) for k, (name, dss) in declared.items()}
        expect(config, version, [(name, [(str(i), s) for i, s in enumerate(ss)])
                                 for name, ss in _by_layer_name(shapes, config, path).items()])
    return {k: (name, [np.asarray(ds[()]) for ds in dss]) for k, (name, dss) in declared.items()}


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


def _natural(items):
    """Keras 3's `layers/<key>` groups in creation order as far as the keys tell: h5py lists them by
    name ("conv2d_10" before "conv2d_2"), Keras numbers each class's layers "", "_1", "_2", ..."""
    def key(item):
        m = re.fullmatch(r"(.*?)(?:_(\d+))?", item[0])
        return m.group(1), int(m.group(2) or 0)
    return sorted(items, key=key)


# -- weights only ------------------------------------------------------------------------------
@dataclass
class WeightsFile:
    """A weights-only Keras file: its layers with weights, in the file's order, and what it says of itself."""

    path: str
    layers: list[tuple[str, list[tuple[str, np.ndarray]]]]  # [(layer name, [(weight name, array), ...])]
    keras_version: str = "unknown"
    backend: str | None = None
    layout: str = "h5"  # "h5" (Keras 1/2 layer groups) or "keras3" (layers/<key>/vars)


def read_weights_only(path, expect: Expect | None = None) -> WeightsFile:
    """The layers of a weights-only file (`model.save_weights`): Keras 1/2 `.h5` (layer groups at the
    root, in `layer_names` order) or Keras 3 `.weights.h5` (`layers/<key>/vars`, in key order). Layers
    without weights are left out. `expect` sees the declared shapes before anything is read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {path}")
    if _kind(path) != "h5":
        raise ValueError(f"{path}: a zip, not an HDF5 weights file (a .keras model holds its own architecture: "
                         "give it as --model)")
    f = _open_h5(path)
    try:
        with f:
            if "model_config" in f.attrs:
                raise ValueError(f"{path}: a whole Keras model (it holds its architecture): give it as --model "
                                 "without --weights")
            if not _is_weights_only(f):
                raise ValueError(f"{path}: an HDF5 file with no Keras weights (no 'layer_names' attribute, no "
                                 "'layers' group)")
            group = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
            version = _text(group.attrs.get("keras_version", f.attrs.get("keras_version", "unknown")))
            backend = _backend(group, f)
            if "layer_names" in group.attrs:
                declared = [(n, ws) for n, ws in declared_layers(group) if ws]
                layout = "h5"
            else:
                declared, layout = _declared_vars(f), "keras3"
            check_sizes(path, [(f"{n}/{w}", ds) for n, ws in declared for w, ds in ws])
            if expect is not None:
                expect(None, version, [(n, [(w, tuple(ds.shape)) for w, ds in ws]) for n, ws in declared])
            layers = [(n, [(w, np.asarray(ds[()])) for w, ds in ws]) for n, ws in declared]
    except ValueError:
        raise
    except (OSError, KeyError, RuntimeError) as e:
        raise ValueError(f"{path}: the HDF5 file is truncated or damaged: reading its weights failed ({e})") from e
    return WeightsFile(str(path), layers, version, backend, layout)


def _declared_vars(f) -> list[tuple[str, list]]:
    out = []
    for key, group in _natural(f["layers"].items() if "layers" in f else []):
        vars_ = group.get("vars")
        if vars_ is None or not len(vars_):
            continue
        name = _text(vars_.attrs["name"]) if "name" in vars_.attrs else key
        out.append((name, [(f"{key}/vars/{i}", vars_[str(i)]) for i in range(len(vars_))]))
    return out
