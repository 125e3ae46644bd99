"""One way to name a method with options, for every verb, `evaluate` and the library.

A method spec is a registered name, optionally with options after a colon, comma separated:

    "grad_cam"    "grad_cam:signed=true"    "occlusion:window=(8,16),stride=4"    "grad_cam:layer=conv5"

`layer` picks the layer of a layer method; every other key is one of the method's options, converted
to its type by `methods.options` ("true" is True, "8" is 8). On the command line the same options
may also come from `--set METHOD.OPTION=VALUE` (read by `text.grouped`), in the viewer from the page, and in
the Python API from keyword arguments: `explain(model, x, "grad_cam:signed=true")` is
`explain(model, x, "grad_cam", signed=True)`, and a mistake gives the same message either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from torch import nn

from ..text import split_options
from .base import Explainer, check_layer, get_method, typed_options


@dataclass(frozen=True)
class MethodSpec:
    """A method named with its options: `label` (what titles and reports show), `name` (registered),
    `layer` (None: the method's default), `options` (as given; converted when the explainer is built)."""

    label: str
    name: str
    layer: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self, model: nn.Module, layer: Any = None, **options: Any) -> Explainer:
        """The explainer on `model`; `layer` and `options` are defaults this spec's own layer and options override."""
        chosen = self.layer if self.layer is not None else layer
        return get_method(self.name)(model, chosen, **{**options, **dict(self.options)})

    @property
    def cls(self) -> type[Explainer]:
        return get_method(self.name)


def parse_method(spec: str | MethodSpec, options: Mapping[str, Any] | None = None,
                 layer: Any = None) -> MethodSpec:
    """A spec string (or a MethodSpec) -> MethodSpec, checked now: an unknown method lists the known
    ones, an unknown or ill-typed option names the option and what it takes. `options` (e.g. from
    `--set`) and `layer` (e.g. `--layer`, for layer methods only) are defaults the spec's own override."""
    if isinstance(spec, MethodSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"a method is named by a string like 'grad_cam' or 'grad_cam:signed=true', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    cls = get_method(name)
    given = {**dict(options or {}), **split_options(rest, spec)}
    chosen = given.pop("layer", None)
    check_layer(cls, chosen)          # the checks the explainer makes when built: fail now, not mid-run
    typed_options(cls, given)
    if chosen is None and cls.uses_layer:
        chosen = layer
    return MethodSpec(label=spec.strip(), name=name, layer=chosen, options=given)


def parse_methods(specs, options: Mapping[str, Mapping[str, Any]] | None = None, layer: Any = None) -> list[MethodSpec]:
    """Several specs with distinct labels (none at all is allowed: a video of the predictions alone);
    `options` maps a method name to its `--set` options (each must belong to one of the methods)."""
    options = dict(options or {})
    specs = [specs] if isinstance(specs, (str, MethodSpec)) else list(specs)
    parsed = [parse_method(s, options.get(_name_of(s)), layer) for s in specs]
    stray = sorted(set(options) - {p.name for p in parsed})
    if stray:
        raise ValueError(f"options given for {', '.join(stray)}, which is not among the methods "
                         f"{[p.label for p in parsed]}")
    labels = [p.label for p in parsed]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise ValueError(f"method {', '.join(repeated)} is given twice")
    return parsed


def _name_of(spec) -> str:
    return spec.name if isinstance(spec, MethodSpec) else str(spec).strip().partition(":")[0].strip()
