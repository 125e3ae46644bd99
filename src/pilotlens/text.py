"""Text a person typed -> values: one set of rules for the command line, evaluate, the viewer and the API.

    literal("3") -> 3     literal("(160,120)") -> (160, 120)     literal("left") -> "left"
    key_values(["seed=3", "camera=left"], "--input-option") -> {"seed": 3, "camera": "left"}
    grouped(["occlusion.window=20"], "--set", "METHOD.OPTION=VALUE") -> {"occlusion": {"window": "20"}}
    split_options("window=(8,16),stride=4", "occlusion:...") -> {"window": "(8,16)", "stride": "4"}

A method option's text is converted to the option's own type in `methods/options.py`, so "false" means
False there; everything else that reads as a Python literal becomes that literal.
"""
from __future__ import annotations

import ast
from typing import Any, Callable, Iterable

MAX_TEXT = 10_000     # characters in one typed value: longer is no option a person typed
MAX_DEPTH = 32        # brackets inside one value (a deeper literal makes the parser recurse without end)


def _check(text: str, what: str) -> str:
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what}: a value of {len(text):,} characters (at most {MAX_TEXT:,})")
    depth = deepest = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise ValueError(f"{what}: brackets nested {deepest} deep (at most {MAX_DEPTH})")
    return text


def literal(text: str, what: str = "value") -> Any:
    """`text` as a Python literal when it reads as one ("3", "(160,120)", "True"), else the text itself."""
    _check(text, what)
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text.strip()


def _split_item(item: str, what: str, example: str) -> tuple[str, str]:
    key, sep, value = str(item).partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{what} must look like {example}, got {item!r}")
    return key.strip(), value


def key_values(items: Iterable[str] | None, what: str,
               convert: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """["KEY=VALUE", ...] -> {KEY: convert(VALUE)} (default: `literal`); a bad item names `what`."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, value = _split_item(item, what, "KEY=VALUE")
        out[key] = convert(value) if convert is not None else literal(value, f"{what} {key}")
    return out


def grouped(items: Iterable[str] | None, what: str, example: str = "GROUP.KEY=VALUE",
            convert: Callable[[str], Any] | None = str) -> dict[str, dict[str, Any]]:
    """["GROUP.KEY=VALUE", ...] -> {GROUP: {KEY: convert(VALUE)}} (default: the text as typed, for the
    owner of GROUP to convert to its own types); `--set` and `--metric-option` read this way."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, value = _split_item(item, what, example)
        group, dot, name = key.partition(".")
        if not dot or not group.strip() or not name.strip():
            raise ValueError(f"{what} takes {example}, got {item!r}")
        _check(value, f"{what} {key}")
        out.setdefault(group.strip(), {})[name.strip()] = convert(value) if convert is not None else value
    return out


def split_options(text: str, spec: str) -> dict[str, str]:
    """"a=1,b=(2, 3),c=x" -> {"a": "1", "b": "(2, 3)", "c": "x"}: commas inside brackets stay."""
    _check(text, f"method {spec!r}")
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    options = {}
    for item in filter(None, (s.strip() for s in items)):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"method {spec!r}: options are KEY=VALUE, comma separated (got {item!r})")
        options[key.strip()] = value.strip()
    return options
