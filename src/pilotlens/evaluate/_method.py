"""Methods for the metrics: a method spec (methods/spec.py), or your own function.

A method is one of

* a spec as every verb names it: "grad_cam", "random", "grad_cam:layer=features.8,signed=true",
  "occlusion:window=8", or a `MethodSpec`;
* a pair (name, {options}), e.g. ("grad_cam", {"layer": "conv5"}): `layer` goes to the layer, the
  rest are the method's options;
* a callable fn(model, x, target) -> B x H x W tensor (or a Saliency): any map at all, e.g. an edge
  detector. `target` is a pilotlens Target already frozen on the clean output (call it on the
  model's output to get one score per image). Tensors are min-max normalised per image, as
  explainers' maps are;
* an Explainer subclass.

A method with a `seed` option (random, smoothgrad, ...) gets the run's seed for each batch unless the
spec gives one. `resolve_methods` turns a list (or a {label: spec} dict) into `Method`s with
distinct labels, the `random` baseline last.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Union

import torch
from torch import nn

from ..methods import REGISTRY
from ..methods.base import Explainer
from ..methods.spec import MethodSpec, parse_method
from ..saliency import Saliency, normalize
from ..targets import TargetSpec

MethodLike = Union[str, tuple, Callable, type, MethodSpec]
RANDOM = "random"


def method_names() -> list[str]:
    """The names a method spec may use: every registered explainer ("random" among them)."""
    return sorted(REGISTRY)


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


def _class_method(cls: type[Explainer], label: str, layer: Any = None, options: Mapping[str, Any] | None = None) -> Method:
    options = dict(options or {})
    seeded = "seed" in cls.defaults and "seed" not in options

    def compute(model, x, target, seed):
        given = {**options, "seed": seed} if seeded else options
        with cls(model, layer, **given) as ex:
            return ex(x, target).maps

    return Method(label, compute)


def _spec_method(spec: MethodSpec, label: str | None = None) -> Method:
    return _class_method(spec.cls, label or spec.label, spec.layer, spec.options)


def resolve_method(spec: MethodLike, label: str | None = None) -> Method:
    """One spec (see the module docstring) -> a Method; bad names and options fail here, before any work."""
    if isinstance(spec, Method):
        return spec if label is None else Method(label, spec.compute)
    if isinstance(spec, (str, MethodSpec)):
        return _spec_method(parse_method(spec), label)
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str) or not isinstance(spec[1], Mapping):
            raise TypeError(f"a method pair is (name, {{options}}), got {spec!r}")
        name, options = spec
        parsed = parse_method(name.strip(), options)   # `layer` among the options is the spec's own layer
        text = name + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
        return _spec_method(MethodSpec(text, parsed.name, parsed.layer, parsed.options), label)
    if isinstance(spec, type) and issubclass(spec, Explainer):
        return _class_method(spec, label or spec.name or spec.__name__)
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


def resolve_methods(specs: MethodLike | Iterable[MethodLike] | Mapping[str, MethodLike],
                    add_random: bool = True) -> list[Method]:
    """A list (or {label: spec}) of specs -> Methods with distinct labels, "random" last unless given."""
    pair = isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], Mapping)
    if pair or isinstance(specs, (str, Method, MethodSpec)) or (callable(specs) and not isinstance(specs, Mapping)):
        specs = [specs]
    if isinstance(specs, Mapping):
        methods = [resolve_method(s, str(k)) for k, s in specs.items()]
    else:
        methods = [resolve_method(s) for s in specs]
    labels = [m.label for m in methods]
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        raise ValueError(f"methods must have distinct labels; repeated: {', '.join(dupes)} "
                         "(give a dict {label: spec} to name them)")
    if add_random and RANDOM not in labels:
        methods.append(resolve_method(RANDOM))
    return methods


def applicable_methods(model: nn.Module, x: torch.Tensor, target: TargetSpec = None,
                       costly: bool = False) -> list[str]:
    """The registered methods that explain this model: each is tried on the first image of x, and
    those that cannot (no global-average-pool head for cam, no conv layer, ...) are left out. Costly
    methods (occlusion, Score-CAM, RISE, ...: `Explainer.costly`) only with `costly=True`."""
    names = []
    candidates = {n for n, cls in REGISTRY.items() if costly or not cls.costly} - {RANDOM}
    for name in sorted(candidates):   # the baseline is added last by resolve_methods
        try:
            resolve_method(name)(model, x[:1], target, 0)
        except (ValueError, TypeError, RuntimeError, NotImplementedError):
            continue
        names.append(name)
    return names


__all__ = ["Method", "MethodLike", "RANDOM", "applicable_methods", "method_names", "resolve_method", "resolve_methods"]
