"""A weights-only Keras file (`model.save_weights`) onto an architecture: `--model pilotnet --weights w.h5`.

    load_weights_onto(module, "w.h5") -> WeightsReport   (a torch module: the zoo's, or your own class)
    weights_pilot("pilotnet" | "arch.json" | "mynet.py:MyNet" | module, "w.h5", **pilot_settings) -> Pilot

A weights-only file names its layers but not what they compute, so the arrays are mapped onto the
module by kind and order: the file's convolution kernels (4-D) onto the module's nn.Conv2d in the
order the module runs them, dense kernels (2-D) onto nn.Linear, normalisation statistics (1-D)
onto BatchNorm, each pair checked by shape before anything is read. What changes on the way:

- kernels: Keras stores (h, w, in, out), torch (out, in, h, w); Keras 1 with dim_ordering "th"
  stored (out, in, h, w) already (told apart by shape; where both fit, the file's backend decides);
  kernels saved under Theano were used flipped (convolution) and are flipped back;
- the first dense layer after a feature map: Keras (channels-last) flattened H, W, C where torch
  flattens C, H, W, so its rows are permuted, computed from the map's C, H, W found by running the
  module once on a zero image of its input size (not for a Keras 1 "th" file, which flattened C, H, W);
- dense kernels (in, out) are transposed to torch's (out, in).

Anything that does not fit (a count per kind, a shape, a module parameter no file layer fills) is
refused with a table of both sides. A Keras JSON architecture (`model.to_json()`) instead goes
through the Keras converter, matched by layer name (keras/convert.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .keras.files import read_weights_only

_BN = (nn.BatchNorm1d, nn.BatchNorm2d)
_KINDS = {"conv": "convolution", "dense": "dense", "bn": "batch normalisation"}


@dataclass
class Pairing:
    file_layer: str
    file_shapes: list[tuple]
    module_layer: str
    module_shapes: list[tuple]
    kind: str
    layout: str = ""  # conv: "hwio" or "oihw" (as stored); dense: "permuted CxHxW" where rows were reordered


@dataclass
class WeightsReport:
    """What went where: one row per layer, and notes on what the file could not say."""

    path: str
    module: str
    pairs: list[Pairing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        return _table([(p.file_layer, p.file_shapes) for p in self.pairs],
                      [(p.module_layer, p.module_shapes) for p in self.pairs],
                      [p.layout for p in self.pairs])

    def __str__(self) -> str:
        head = f"{self.path} -> {self.module}: {len(self.pairs)} layers"
        return "\n".join([head, self.table(), *(f"note: {n}" for n in self.notes)])


def _shapes(shapes) -> str:
    return " ".join(str(tuple(s)) for s in shapes) or "-"


def _table(left: list, right: list, extra: list | None = None) -> str:
    rows = [("file layer", "shapes", "module layer", "shapes", "")]
    for i, (l, r) in enumerate(zip_longest(left, right)):
        rows.append((l[0] if l else "", _shapes(l[1]) if l else "", r[0] if r else "", _shapes(r[1]) if r else "",
                     (extra[i] if extra and i < len(extra) else "")))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(f"  {a:<{widths[0]}}  {b:<{widths[1]}} | {c:<{widths[2]}}  {d:<{widths[3]}}  {e}".rstrip()
                     for a, b, c, d, e in rows)


# -- the module's side ----------------------------------------------------------------------------
@dataclass
class _Slot:
    name: str
    module: nn.Module
    kind: str
    map_chw: tuple | None = None  # for a Linear reading a flattened feature map: that map's C, H, W

    @property
    def shapes(self) -> list[tuple]:
        m = self.module
        if self.kind == "bn":
            return [tuple(m.running_mean.shape)] * 4
        return [tuple(m.weight.shape)] + ([tuple(m.bias.shape)] if m.bias is not None else [])


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, _BN):
        return "bn"
    return None


def _input_size(module: nn.Module, input_size) -> tuple[int, int] | None:
    size = input_size if input_size is not None else getattr(module, "input_size", None)
    return None if size is None else (int(size[0]), int(size[1]))


def module_slots(module: nn.Module, input_size=None) -> list[_Slot]:
    """The module's weighted layers in the order it runs them (one forward on a zero image of
    `input_size` (w, h), or module.input_size), each Linear knowing the feature map it flattens;
    in registration order when no input size is known."""
    named = [(n, m) for n, m in module.named_modules() if _kind(m) is not None]
    size = _input_size(module, input_size)
    first_conv = next((m for _, m in named if isinstance(m, nn.Conv2d)), None)
    if size is None or first_conv is None:
        return [_Slot(n, m, _kind(m)) for n, m in named]
    names = {m: n for n, m in module.named_modules()}
    order: list[_Slot] = []
    seen: set[int] = set()
    last_map: list = [None]

    def hook(mod, inputs, output):
        if _kind(mod) is not None and id(mod) not in seen:
            seen.add(id(mod))
            chw = last_map[0] if isinstance(mod, nn.Linear) else None
            order.append(_Slot(names[mod], mod, _kind(mod), chw))
        if isinstance(mod, nn.Linear):
            last_map[0] = None
        if isinstance(output, torch.Tensor) and output.ndim == 4:
            last_map[0] = tuple(output.shape[1:])

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    w, h = size
    training = module.training
    try:
        module.eval()
        with torch.no_grad():
            p = next(module.parameters())
            module(torch.zeros(1, first_conv.in_channels, h, w,
                               dtype=p.dtype, device=p.device))
    except Exception as e:
        raise ValueError(f"the module does not run on a zero image of {w}x{h} (w x h) ({type(e).__name__}: {e}); "
                         "give the size it was trained on: input_size=(w, h), on the command line --size WxH") from e
    finally:
        for handle in handles:
            handle.remove()
        module.train(training)
    unused = [n for n, m in named if id(m) not in seen]
    return order + [_Slot(n, m, _kind(m)) for n, m in named if n in unused]


# -- the file's side ------------------------------------------------------------------------------
@dataclass
class _FileLayer:
    name: str
    weights: list[tuple[str, tuple]]  # (weight name, declared shape)
    kind: str | None = None

    @property
    def shapes(self) -> list[tuple]:
        return [s for _, s in self.weights]


def _file_kind(layer: _FileLayer) -> str | None:
    shapes = layer.shapes
    if not shapes or len(shapes) > 4:
        return None
    if len(shapes[0]) == 4 and all(len(s) == 1 for s in shapes[1:]) and len(shapes) <= 2:
        return "conv"
    if len(shapes[0]) == 2 and all(len(s) == 1 for s in shapes[1:]) and len(shapes) <= 2:
        return "dense"
    if len(shapes) >= 2 and all(len(s) == 1 for s in shapes) and len({s for s in shapes}) == 1:
        return "bn"
    return None


_BN_NAMES = {"gamma": "gamma", "beta": "beta", "moving_mean": "mean", "running_mean": "mean",
             "moving_variance": "var", "running_std": "var"}  # Keras 1's running_std held the variance


def _bn_roles(names: list[str]) -> list[str] | None:
    """Each BatchNormalization array's role by its weight name; by position when there are 4 (Keras's
    own order gamma, beta, mean, variance); None when neither tells."""
    roles = []
    for n in names:
        stem = n.split(":")[0].split("/")[-1]
        role = next((r for key, r in _BN_NAMES.items() if stem == key or stem.endswith("_" + key)), None)
        roles.append(role)
    if None not in roles and len(set(roles)) == len(roles) and {"mean", "var"} <= set(roles):
        return roles
    if len(names) == 4:
        return ["gamma", "beta", "mean", "var"]
    return None


# -- matching -------------------------------------------------------------------------------------
class WeightsMismatch(ValueError):
    pass


def _refuse(path, title: str, reason: str, files: list[_FileLayer], slots: list[_Slot]) -> WeightsMismatch:
    table = _table([(f.name, f.shapes) for f in files], [(s.name, s.shapes) for s in slots])
    return WeightsMismatch(f"{path} does not fit {title}: {reason}\n{table}")


def _conv_layout(shape: tuple, target: tuple, keras1: bool, backend: str | None) -> str | None:
    """How a stored kernel of `shape` fits a torch kernel `target` (out, in, h, w): "hwio", "oihw" or None."""
    hwio = (shape[3], shape[2], shape[0], shape[1]) == target
    oihw = keras1 and tuple(shape) == target
    if hwio and oihw:
        return "oihw" if backend == "theano" else "hwio"
    return "hwio" if hwio else "oihw" if oihw else None


def _plan(path, title, files: list[_FileLayer], slots: list[_Slot], keras1: bool, backend) -> list[Pairing]:
    """Pair the file's layers with the module's, per kind in order; raise WeightsMismatch with both sides."""
    unknown = [f for f in files if f.kind is None]
    if unknown:
        f = unknown[0]
        raise _refuse(path, title, f"file layer {f.name!r} holds arrays {_shapes(f.shapes)}, which are not a 2-D "
                      "convolution, a dense layer or a batch normalisation", files, slots)
    for kind in _KINDS:
        n_file = sum(f.kind == kind for f in files)
        n_mod = sum(s.kind == kind for s in slots)
        if n_file != n_mod:
            raise _refuse(path, title, f"{_KINDS[kind]} layers: {n_file} in the file, {n_mod} in the module", files, slots)
    queues = {kind: [s for s in slots if s.kind == kind] for kind in _KINDS}
    pairs = []
    for f in files:
        s = queues[f.kind].pop(0)
        shapes, target = f.shapes, s.shapes
        layout, ok = "", True
        if f.kind == "conv":
            layout = _conv_layout(shapes[0], target[0], keras1, backend) or ""
            ok = bool(layout) and shapes[1:] == target[1:]
        elif f.kind == "dense":
            ok = (shapes[0][1], shapes[0][0]) == target[0] and shapes[1:] == target[1:]
        else:
            ok = shapes[0] == target[0] and _bn_roles([w for w, _ in f.weights]) is not None
        if not ok:
            raise _refuse(path, title, f"file layer {f.name!r} {_shapes(shapes)} does not fit module layer {s.name!r} "
                          f"{_shapes(target)}", files, slots)
        pairs.append(Pairing(f.name, shapes, s.name, target, f.kind, layout))
    return pairs


def _dense_rows(pair: Pairing, slot: _Slot, channels_first_file: bool) -> np.ndarray | None:
    """The row permutation taking Keras's H, W, C flatten to torch's C, H, W (None: keep the order)."""
    if channels_first_file or slot.map_chw is None:
        return None
    c, h, w = slot.map_chw
    if c * h * w != pair.file_shapes[0][0] or h * w == 1:
        return None
    pair.layout = f"rows from H,W,C to C,H,W of {c}x{h}x{w}"
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()


def _needs_map_size(slots: list[_Slot]) -> _Slot | None:
    """A Linear after convolutions whose input is wider than the last conv's channels, whose feature-map
    size the module was not run to learn: the flatten order cannot be worked out."""
    last_conv = None
    for s in slots:
        if s.kind == "conv":
            last_conv = s
        elif s.kind == "dense" and last_conv is not None:
            if s.map_chw is None and s.module.in_features != last_conv.module.out_channels:
                return s
            last_conv = None
    return None


def load_weights_onto(module: nn.Module, path, *, input_size=None) -> WeightsReport:
    """Copy a weights-only Keras file's arrays into `module` (see the module docstring); returns the
    report of what went where. Raises WeightsMismatch (a ValueError) with a table of both sides when
    the file does not fit, before reading any array. input_size: (w, h), when the module has no
    `input_size` attribute (needed to run it once, to learn its order and its feature-map sizes)."""
    title = type(module).__name__
    slots = module_slots(module, input_size)
    covered = {id(p) for s in slots for p in s.module.parameters(recurse=False)}
    stray = [n for n, p in module.named_parameters() if id(p) not in covered]
    if stray:
        raise ValueError(f"{title} has parameters no Keras layer kind maps onto ({', '.join(stray[:6])}): only "
                         "Conv2d, Linear and BatchNorm weights are loaded from a Keras weights file")
    waiting = _needs_map_size(slots)
    if waiting is not None:
        raise ValueError(f"{title}: {waiting.name} reads a flattened feature map whose size is unknown without the "
                         "input size; give input_size=(w, h) (on the command line, --size WxH)")
    plan: dict = {}

    def expect(_config, version, declared):
        files = [_FileLayer(n, ws) for n, ws in declared]
        for f in files:
            f.kind = _file_kind(f)
        plan["keras1"] = str(version).startswith("1")
        plan["pairs"] = _plan(path, title, files, slots, plan["keras1"], plan.get("backend"))

    # the backend decides an ambiguous kernel layout: read it first (attributes only)
    plan["backend"] = _peek_backend(path)
    stored = read_weights_only(path, expect)
    pairs: list[Pairing] = plan["pairs"]
    by_slot = {s.name: s for s in slots}
    arrays = {name: dict(ws) for name, ws in stored.layers}
    channels_first = any(p.kind == "conv" and p.layout == "oihw" for p in pairs)
    report = WeightsReport(str(path), title, pairs)
    with torch.no_grad():
        for pair in pairs:
            slot, values = by_slot[pair.module_layer], arrays[pair.file_layer]
            names = list(values)
            _copy(pair, slot, [values[n] for n in names], names, stored.backend, channels_first)
    if stored.backend == "theano" and any(p.kind == "conv" for p in pairs):
        report.notes.append("the file was saved under Theano, which convolved with flipped kernels: flipped back")
    for pair in pairs:
        eps = getattr(by_slot[pair.module_layer].module, "eps", None)
        if pair.kind == "bn" and eps is not None and abs(eps - 1e-3) > 1e-12:
            report.notes.append(f"{pair.module_layer}: the module's eps {eps:g} is kept; the file does not say the "
                                "Keras layer's (its default is 0.001)")
    module.eval()
    return report


def _peek_backend(path) -> str | None:
    import h5py
    try:
        with h5py.File(path, "r") as f:
            for where in (f, f["model_weights"]) if "model_weights" in f else (f,):
                if "backend" in where.attrs:
                    value = where.attrs["backend"]
                    return (value.decode() if isinstance(value, bytes) else str(value)).lower()
    except (OSError, KeyError):
        return None  # read_weights_only reports the damaged file
    return None


def _copy(pair: Pairing, slot: _Slot, arrays: list[np.ndarray], names: list[str], backend, channels_first) -> None:
    m = slot.module
    t = lambda a, like: torch.as_tensor(np.ascontiguousarray(a)).to(dtype=like.dtype, device=like.device)  # noqa: E731
    if pair.kind == "conv":
        kernel = arrays[0] if pair.layout == "oihw" else arrays[0].transpose(3, 2, 0, 1)
        if backend == "theano":
            kernel = kernel[:, :, ::-1, ::-1]
        m.weight.copy_(t(kernel, m.weight))
    elif pair.kind == "dense":
        kernel = arrays[0]
        rows = _dense_rows(pair, slot, channels_first)
        if rows is not None:
            kernel = kernel[rows]
        m.weight.copy_(t(kernel.T, m.weight))
    else:
        roles = dict(zip(_bn_roles(names), arrays))
        if m.affine:
            m.weight.copy_(t(roles.get("gamma", np.ones_like(roles["mean"])), m.weight))
            m.bias.copy_(t(roles.get("beta", np.zeros_like(roles["mean"])), m.bias))
        elif "gamma" in roles or "beta" in roles:
            raise ValueError(f"{slot.name} has no affine weights to take the file's gamma and beta")
        m.running_mean.copy_(t(roles["mean"], m.running_mean))
        m.running_var.copy_(t(roles["var"], m.running_var))
        return
    if len(arrays) > 1:
        m.bias.copy_(t(arrays[1], m.bias))


# -- a Pilot ------------------------------------------------------------------------------------
def is_keras_weights(path) -> bool:
    """True when `path` is an HDF5 file (a Keras weights file), False for anything else (a torch
    state_dict .pth/.pt is a zip or a pickle): which loader --weights needs, by content, not by name."""
    from .keras.files import HDF5_MAGIC
    try:
        with open(path, "rb") as f:
            return f.read(8) == HDF5_MAGIC
    except OSError:
        return False


def weights_pilot(arch, weights, *, lambdas: dict | None = None, **pilot_settings):
    """A Pilot from an architecture and a weights-only Keras file.

    arch: a zoo name ("pilotnet", "donkey_linear", ...), "FILE.py:Class", a Keras JSON architecture
    file (.json, from model.to_json()), or an nn.Module. The pilot's `weights_report` says what went
    where (None for a JSON architecture, whose layers are matched by name)."""
    from . import zoo
    from .pilot import Pilot
    from .user_code import class_seeing, is_user_class, user_pilot
    text = str(arch) if not isinstance(arch, nn.Module) else ""
    report = None
    if isinstance(arch, nn.Module):
        pilot = Pilot(arch, **{**class_seeing(arch), **pilot_settings})
    elif text.lower().endswith(".json"):
        pilot = _json_pilot(text, weights, lambdas, pilot_settings)
    elif is_user_class(text):
        pilot = user_pilot(text, None, **pilot_settings)
    elif text in zoo.ARCHITECTURES:
        pilot = Pilot.from_arch(text, **pilot_settings)
    else:
        raise ValueError(f"--weights {weights}: {arch!r} names no architecture; give a zoo name "
                         f"({', '.join(zoo.ARCHITECTURES)}), a FILE.py:Class, or a Keras JSON file (model.to_json())")
    if lambdas and not text.lower().endswith(".json"):
        raise ValueError("lambdas (--lambda) are for Keras architectures, not " + (text or type(arch).__name__))
    if not text.lower().endswith(".json"):
        report = load_weights_onto(pilot.model, weights, input_size=pilot.input_size)
        if text in zoo.ARCHITECTURES and getattr(pilot.model, "normalize", None) is not None:
            if not isinstance(pilot.model.normalize, nn.Identity):
                report.notes.append(f"{text} scales its input inside ({pilot.model.normalize.extra_repr()}); the "
                                    "weights file cannot say how the Keras model scaled its input")
    pilot.weights_report = report
    return pilot


def _json_pilot(arch: str, weights, lambdas, settings: dict):
    """As keras_pilot does for a whole Keras file: size and channels from the model, raw pixels where its
    first layer scales them, else pixels / 255."""
    from .keras.convert import convert
    from .pilot import Pilot
    from .zoo import KERAS_ARCH
    model, graph = convert(arch, lambdas=lambdas, weights=weights)
    first = graph["input"]["name"]
    raw = any(s["type"] == "affine" and s["inputs"] == [first] for s in graph["layers"])
    base = dict(color="gray" if model.in_channels == 1 else "rgb", scale=1.0 if raw else 1 / 255,
                outputs=model.output_names, name=Path(arch).stem)
    if model.input_size is not None:
        base["input_size"] = model.input_size
    base.update(settings)
    if "input_size" not in base:
        raise ValueError(f"{arch}: the model accepts any image size; give input_size=(w, h)")
    return Pilot(model, arch=KERAS_ARCH, arch_kwargs={"graph": graph, "throttle_range": 0.5}, **base)
