"""What the page asks for (methods, layer, target, view, options), checked into a frozen, hashable Settings.

Every value the browser sends passes through `parse_settings`; anything else is refused with a
one-line message naming the field, so the page can show it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..methods import REGISTRY
from ..methods.options import check_names, convert_option, option_types
from ..render import COLORMAPS, VIEWS

MAX_METHODS = 4
MAX_TEXT = 64  # characters in a layer name, target or option value


@dataclass(frozen=True)
class Settings:
    methods: tuple[str, ...] = ("visual_backprop",)
    layer: str | None = None          # a traced layer name; None: each layer method's default
    target: str | None = None         # None: the pilot's default (steering evidence on "angle")
    view: str = "overlay"
    colormap: str = "inferno"
    alpha: float = 0.5
    options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def options_for(self, method: str) -> dict[str, Any]:
        return dict(dict(self.options).get(method, ()))

    def key(self, method: str) -> tuple:
        """What a method's map depends on (the layer only for methods that read one)."""
        layer = self.layer if REGISTRY[method].uses_layer else None
        return method, layer, self.target, tuple(sorted(self.options_for(method).items()))


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} characters")
    return value


def _option_value(method: str, name: str, value: Any, types: tuple[type, ...]) -> Any:
    """An option as the page sends it (text or a JSON number/bool/null) -> its typed value, converted by the
    rules every method option follows (methods/options.py), as a hashable value: Settings is a cache key."""
    if isinstance(value, str):
        value = _text(value, f"{method}.{name}")
    typed = convert_option(method, name, value, types)
    if isinstance(typed, list):
        typed = tuple(typed)
    try:
        hash(typed)
    except TypeError:
        raise ValueError(f"{method}.{name}: only numbers, words or tuples of them, got {value!r}") from None
    return typed


def parse_settings(data: Any, layer_names: set[str]) -> Settings:
    """The page's settings object -> Settings, or a ValueError naming what is wrong."""
    if data is None:
        return Settings()
    if not isinstance(data, dict):
        raise ValueError("settings must be an object")
    unknown = sorted(set(data) - {"methods", "layer", "target", "view", "colormap", "alpha", "options"})
    if unknown:
        raise ValueError(f"unknown setting {', '.join(map(str, unknown))[:100]}")
    methods = data.get("methods") or ["visual_backprop"]
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, list) or len(methods) > MAX_METHODS:
        raise ValueError(f"methods must be a list of at most {MAX_METHODS} names")
    for m in methods:
        if _text(m, "method") not in REGISTRY:
            raise ValueError(f"unknown method {m!r}; methods: {', '.join(sorted(REGISTRY))}")
    methods = list(dict.fromkeys(methods))
    layer = data.get("layer") or None
    if layer is not None and _text(layer, "layer") not in layer_names:
        raise ValueError(f"no layer named {layer!r}; the layers are: {', '.join(sorted(layer_names))}")
    target = data.get("target") or None
    if target is not None:
        target = _text(target, "target").strip() or None
    view = data.get("view", "overlay")
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; views: {', '.join(VIEWS)}")
    colormap = data.get("colormap", "inferno")
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; colormaps: {', '.join(COLORMAPS)}")
    alpha = data.get("alpha", 0.5)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return Settings(tuple(methods), layer, target, view, colormap, float(alpha),
                    _options(data.get("options") or {}, methods))


def _options(given: Any, methods: list[str]) -> tuple:
    if not isinstance(given, dict):
        raise ValueError("options must be an object {method: {option: value}}")
    out = []
    for method, opts in given.items():
        if method not in methods:
            continue  # options of a method not shown are kept by the page, ignored here
        if not isinstance(opts, dict):
            raise ValueError(f"options for {method} must be an object")
        cls = REGISTRY[method]
        try:
            check_names(method, cls.defaults, [str(name)[:MAX_TEXT] for name in opts])
        except TypeError as exc:  # the page's errors are ValueErrors: each names the field to fix
            raise ValueError(str(exc)) from None
        types = option_types(cls.defaults, cls.option_types)
        clean = {}
        for name, value in opts.items():
            if value == "" or value is None and cls.defaults[name] is None:
                continue  # left empty: the method's default
            clean[name] = _option_value(method, name, value, types[name])
        if clean:
            out.append((method, tuple(sorted(clean.items()))))
    return tuple(sorted(out))
