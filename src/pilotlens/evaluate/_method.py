"""Methods by name for the metrics: a registered explainer, the `random` baseline, or your own function.

A method spec is one of

* a name: "grad_cam", "random", ... (`pilotlens.methods()` plus "random"), optionally with options
  after a colon: "grad_cam:layer=features.8,signed=True", "occlusion:window=8";
* a pair (name, {options}), e.g. ("grad_cam", {"layer": "conv5"}): `layer` goes to the layer, the
  rest are the method's options;
* a callable fn(model, x, target) -> B x H x W tensor (or a Saliency): any map at all, e.g. an edge
  detector. `target` is a pilotlens Target already frozen on the clean output (call it on the
  model's output to get one score per image). Tensors are min-max normalised per image, as
  explainers' maps are;
* an Explainer subclass.

`resolve_methods` turns a list (or a {label: spec} dict) into `Method`s with distinct labels.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Union

import torch
from torch import nn

from ..methods import REGISTRY
from ..methods.base import Explainer
from ..saliency import Saliency, normalize
from ..targets import TargetSpec
from .random_map import RandomMap

MethodSpec = Union[str, tuple, Callable, type]
RANDOM = "random"


def method_names() -> list[str]:
    """The names a method spec may use: every registered explainer, and "random"."""
    return sorted(set(REGISTRY) | {RANDOM})


def _parse_value(key: str, text: str) -> Any:
    if key == "layer":
        return text  # a layer name stays a name ("8" is the module named 8, not traced index 8)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_name(spec: str) -> tuple[str, dict]:
    name, _, rest = spec.strip().partition(":")
    options = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"method {spec!r}: options are key=value, comma separated (got {item!r})")
        options[key.strip()] = _parse_value(key.strip(), value.strip())
    return name.strip(), options


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown method {name!r}; methods: {', '.join(method_names())} "
                      "(or a callable fn(model, x, target) -> maps)")


@dataclass
class Method:
    """A method ready to run: `method(model, x, target, seed) -> maps` B x H x W float32 in [0, 1]."""

    label: str
    compute: Callable[[nn.Module, torch.Tensor, TargetSpec, int], torch.Tensor]

    def __call__(self, model: nn.Module, x: torch.Tensor, target: TargetSpec = None, seed: int = 0) -> torch.Tensor:
        try:
            maps = self.compute(model, x, target, seed)
        except (ValueError, TypeError, RuntimeError) as exc:
            try:
                named = type(exc)(f"method {self.label!r}: {exc}")
            except Exception:  # an exception type that wants other arguments: let it through as it is
                raise exc from None
            raise named from exc
        if isinstance(maps, Saliency):
            maps = maps.maps
        if not isinstance(maps, torch.Tensor):
            raise TypeError(f"method {self.label!r} returned {type(maps).__name__}, not a B x H x W tensor")
        if maps.dim() == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        want = (x.shape[0], *x.shape[2:])
        if tuple(maps.shape) != want:
            raise ValueError(f"method {self.label!r} returned maps of shape {tuple(maps.shape)}; expected {want}")
        return maps.detach().float().to(x.device)


def _explainer_method(label: str, cls: type[Explainer], options: dict) -> Method:
    options = dict(options)
    layer = options.pop("layer", None)
    if layer is not None and not cls.uses_layer:
        raise ValueError(f"method {label!r}: {cls.name} attributes to the input and takes no layer")

    def compute(model, x, target, seed):
        if cls is RandomMap:
            opts = {"seed": seed, **options}
            return cls(model, layer, **opts)(x, target).maps
        with cls(model, layer, **options) as ex:
            return ex(x, target).maps

    unknown = sorted(set(options) - set(cls.defaults) - ({"seed"} if cls is RandomMap else set()))
    if unknown:  # fail now, not in the middle of a run
        valid = ", ".join(f"{k}={v!r}" for k, v in cls.defaults.items()) or "none"
        raise TypeError(f"method {label!r}: unknown option {', '.join(unknown)}; valid options: {valid}")
    return Method(label, compute)


def resolve_method(spec: MethodSpec, label: str | None = None) -> Method:
    """One spec (see the module docstring) -> a Method."""
    if isinstance(spec, Method):
        return spec if label is None else Method(label, spec.compute)
    if isinstance(spec, str):
        name, options = _parse_name(spec)
        return resolve_method((name, options), label or spec.strip())
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], Mapping):
            raise TypeError(f"a method pair is (name, {{options}}), got {spec!r}")
        name, options = spec
        if name == RANDOM:
            cls: type[Explainer] = RandomMap
        elif name in REGISTRY:
            cls = REGISTRY[name]
        else:
            raise _unknown(name)
        if label is None:
            label = name + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
        return _explainer_method(label, cls, dict(options))
    if isinstance(spec, type) and issubclass(spec, Explainer):
        return _explainer_method(label or spec.name or spec.__name__, spec, {})
    if callable(spec):
        def compute(model, x, target, seed, fn=spec):
            out = fn(model, x, target)
            if isinstance(out, Saliency):
                return out.maps
            if isinstance(out, torch.Tensor) and out.dim() == 3:
                return normalize(out.detach().float())
            return out
        return Method(label or getattr(spec, "__name__", type(spec).__name__), compute)
    raise TypeError(f"a method is a name, a (name, options) pair, an Explainer class or a callable, "
                    f"not {type(spec).__name__}; names: {', '.join(method_names())}")


def resolve_methods(specs: MethodSpec | Iterable[MethodSpec] | Mapping[str, MethodSpec],
                    add_random: bool = True) -> list[Method]:
    """A list (or {label: spec}) of specs -> Methods with distinct labels, "random" last unless given."""
    pair = isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], Mapping)
    if pair or isinstance(specs, (str, Method)) or (callable(specs) and not isinstance(specs, Mapping)):
        specs = [specs]
    if isinstance(specs, Mapping):
        methods = [resolve_method(s, str(k)) for k, s in specs.items()]
    else:
        methods = [resolve_method(s) for s in specs]
    labels = [m.label for m in methods]
    dupes = sorted({l for l in labels if labels.count(l) > 1})
    if dupes:
        raise ValueError(f"methods must have distinct labels; repeated: {', '.join(dupes)} "
                         "(give a dict {label: spec} to name them)")
    if add_random and RANDOM not in labels:
        methods.append(resolve_method(RANDOM))
    return methods


def applicable_methods(model: nn.Module, x: torch.Tensor, target: TargetSpec = None) -> list[str]:
    """The registered methods that explain this model: each is tried on the first image of x, and
    those that cannot (no global-average-pool head for cam, no conv layer, ...) are left out."""
    names = []
    for name in sorted(REGISTRY):
        try:
            resolve_method(name)(model, x[:1], target, 0)
        except (ValueError, TypeError, RuntimeError, NotImplementedError):
            continue
        names.append(name)
    return names

