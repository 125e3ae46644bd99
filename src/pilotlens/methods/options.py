"""A method's options checked and converted in one place, with their types.

Each option's type is its default's type, or what the method declares in `option_types` where the
default does not say (several types, or None allowed). Values typed by a person (`--set
grad_cam.signed=false`, "occlusion:window=(8,16)") arrive as strings and are converted here, so
"false" means False; a value of the wrong type names the option and the type it wants.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..text import literal

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _type_names(types: tuple[type, ...]) -> str:
    names = {bool: "a bool (true/false)", int: "an int", float: "a number", str: "a string",
             tuple: "a tuple like (8, 16)", list: "a list like [1, 2]", type(None): "none"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _is(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types            # True is an int to Python, never to an option
    if isinstance(value, int) and int not in types and float in types:
        return True                     # 3 where a number is wanted
    return isinstance(value, types)


def _from_text(text: str, types: tuple[type, ...], what: str) -> Any:
    t = text.strip()
    low = t.lower()
    if bool in types and low in _TRUE | _FALSE:
        return low in _TRUE
    if type(None) in types and low in ("none", "null"):
        return None
    value = literal(t, what)  # text.py's rule for a literal (and its limits on length and nesting)
    if isinstance(value, list) and tuple in types and list not in types:
        value = tuple(value)
    if _is(value, types):
        return value
    if str in types:
        return text
    raise _NotOfType


class _NotOfType(Exception):
    """Text that reads as none of an option's types (convert_option names the option and its types)."""


def convert_option(method: str, key: str, value: Any, types: tuple[type, ...]) -> Any:
    """`value` as one of `types`, converting a person's text; a ValueError naming the option otherwise."""
    if _is(value, types):
        return float(value) if isinstance(value, int) and not isinstance(value, bool) and int not in types else value
    if isinstance(value, list) and tuple in types:
        return tuple(value)
    if isinstance(value, str):
        try:
            converted = _from_text(value, types, f"{method} option {key}")
        except _NotOfType:
            pass
        else:
            return convert_option(method, key, converted, types) if not isinstance(converted, str) else converted
    raise ValueError(f"{method} option {key} takes {_type_names(types)}, got {value!r}")


def option_types(defaults: Mapping[str, Any], declared: Mapping[str, tuple[type, ...]]) -> dict[str, tuple[type, ...]]:
    types = {}
    for key, default in defaults.items():
        given = declared.get(key)
        if given is None:
            given = (type(default),) if default is not None else (object,)
        types[key] = tuple(given) if isinstance(given, (tuple, list)) else (given,)
    return types


def check_names(method: str, defaults: Mapping[str, Any], names) -> None:
    """An unknown option name is a TypeError that lists the valid ones with their defaults."""
    unknown = sorted(set(names) - set(defaults), key=str)
    if unknown:
        valid = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
        raise TypeError(f"{method}: unknown option {', '.join(map(str, unknown))}; valid options: {valid}")


def check_options(method: str, defaults: Mapping[str, Any], declared: Mapping[str, tuple[type, ...]],
                  given: Mapping[str, Any]) -> dict[str, Any]:
    """The method's full options: defaults, overridden by `given` converted to each option's type.
    An unknown option is a TypeError that lists the valid ones with their defaults."""
    check_names(method, defaults, given)
    types = option_types(defaults, declared)
    out = dict(defaults)
    for key, value in given.items():
        out[key] = value if types[key] == (object,) else convert_option(method, key, value, types[key])
    return out


def describe_options(defaults: Mapping[str, Any], declared: Mapping[str, tuple[type, ...]]) -> str:
    """`key=default (type)` for each option, for `pilotlens methods`."""
    types = option_types(defaults, declared)
    return ", ".join(f"{k}={v!r} ({_type_names(types[k]) if types[k] != (object,) else 'any'})"
                     for k, v in defaults.items()) or "no options"
