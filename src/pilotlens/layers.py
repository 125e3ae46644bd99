"""Trace a model into named layers with their shapes, and pick one by name, index, module or default."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

from .hooks import HookSet, eval_mode
from .model_io import device_of, dtype_of

LayerSpec = Union[None, str, int, nn.Module]

# Layers that change nothing but values, element by element (they keep the spatial layout).
ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.PReLU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity,
)
POOLS = (nn.MaxPool2d, nn.AvgPool2d)


@dataclass
class LayerInfo:
    """One leaf module as it ran: position in execution order, name in named_modules(), shapes (no batch)."""

    index: int
    name: str
    module: nn.Module
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None

    @property
    def kind(self) -> str:
        return type(self.module).__name__

    @property
    def leaf(self) -> bool:
        """False for a listed container (a file's layer with its parts listed before it)."""
        return not any(True for _ in self.module.children())


class LayerNotFound(ValueError):
    pass


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules with no children, in registration order, with their names ("" for a bare layer)."""
    return [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]


def listed_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """What `trace` lists: the leaf modules, and the containers that stand for one layer of the file a
    model came from (`listed_as_layer = True`, e.g. a Keras Conv2D with its activation), so the name
    a user knows from that file ("conv2d_5") is in the list next to its parts."""
    return [(n, m) for n, m in model.named_modules()
            if not any(True for _ in m.children()) or getattr(m, "listed_as_layer", False)]


def _shape(t) -> tuple[int, ...] | None:
    return tuple(t.shape[1:]) if isinstance(t, torch.Tensor) else None


def trace(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerInfo]:
    """Run one zero input of `input_shape` (C x H x W, no batch) and list the leaf modules in the order
    they ran, with input and output shapes (a listed container after its parts: see listed_modules). A
    module that runs twice is listed once, at its first run."""
    names = {id(m): n for n, m in listed_modules(model)}
    order: list[LayerInfo] = []
    seen: set[int] = set()

    def record(module, inputs, output):
        if id(module) not in seen:
            seen.add(id(module))
            first = inputs[0] if inputs else None
            order.append(LayerInfo(len(order), names[id(module)], module, _shape(first), _shape(output)))

    x = torch.zeros((1, *input_shape), device=device_of(model), dtype=dtype_of(model))
    with HookSet() as hooks, eval_mode(model), torch.no_grad():
        for _, module in listed_modules(model):
            hooks.forward(module, record)
        try:
            model(x)
        except RuntimeError as exc:
            raise ValueError(f"the model rejected an input of shape {tuple(x.shape)}: {exc}") from exc
    return order


def format_layers(layers: list[LayerInfo]) -> str:
    """A table of traced layers to pick one from."""
    rows = [("#", "name", "type", "output shape")]
    rows += [(str(l.index), l.name or "(model)", l.kind, "x".join(map(str, l.output_shape or ()))) for l in layers]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _available(model: nn.Module) -> str:
    items = [f"{n or '(model)'} ({type(m).__name__})" for n, m in listed_modules(model)]
    return ", ".join(items) if items else "(none)"


def last_conv(model: nn.Module) -> tuple[str, nn.Module]:
    """The last nn.Conv2d in registration order (for sequential models, the deepest one)."""
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise LayerNotFound(f"the model has no Conv2d layer; its layers are: {_available(model)}")
    return convs[-1]


def find_layers(model: nn.Module, specs, method: str) -> list[tuple[str, nn.Module]]:
    """Several layers for a method that reads many (hypercolumns, fusion): None -> every Conv2d in
    registration order; a comma-separated string or a list of specs -> each found by `find_layer`."""
    if isinstance(specs, str):
        specs = [s.strip() for s in specs.split(",") if s.strip()]
    if specs is None:
        chosen = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        if not chosen:
            raise LayerNotFound(f"{method} needs conv layers and the model has none; pass layers=[...]")
        return chosen
    chosen = [find_layer(model, s) for s in specs]
    if not chosen:
        raise ValueError(f"{method}: layers is empty")
    return chosen


def find_layer(model: nn.Module, spec: LayerSpec, input_shape: tuple[int, ...] | None = None) -> tuple[str, nn.Module]:
    """Resolve a layer spec to (name, module).

    None: the last convolution. str: a name from named_modules() ("8", "features.2"). int: an index in
    the traced list (needs `input_shape`; negative counts from the end). nn.Module: that module.
    """
    if spec is None:
        return last_conv(model)
    if isinstance(spec, nn.Module):
        for n, m in model.named_modules():
            if m is spec:
                return n, m
        raise LayerNotFound(f"the given {type(spec).__name__} module is not part of the model; "
                            f"its layers are: {_available(model)}")
    if isinstance(spec, str):
        modules = dict(model.named_modules())
        if spec in modules and spec != "":
            return spec, modules[spec]
        if spec.lstrip("-").isdigit() and input_shape is not None:
            return find_layer(model, int(spec), input_shape)
        raise LayerNotFound(f"no layer named {spec!r}; the layers are: {_available(model)}")
    if isinstance(spec, int) and not isinstance(spec, bool):
        if input_shape is None:
            raise LayerNotFound("a layer index needs the input shape to trace the model")
        layers = trace(model, input_shape)
        if not -len(layers) <= spec < len(layers):
            raise LayerNotFound(f"layer index {spec} out of range: the model has {len(layers)} traced layers:\n"
                                + format_layers(layers))
        info = layers[spec]
        return info.name, info.module
    raise TypeError(f"a layer is a name, an index, a module or None, not {type(spec).__name__}")
