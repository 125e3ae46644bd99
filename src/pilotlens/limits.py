"""Bounds on what a user's number, or a file's content, may make pilotlens allocate or follow.

A number a user types (a frame size, a scale, a count of masks or samples) can ask for more memory
than the machine has; numpy or OpenCV then fail with a message that names no option, or the machine
swaps itself to a halt. The rule: estimate the allocation first, from the number, and refuse above a
bound in one line that names the option, its value and the estimate.

    from pilotlens.limits import check_allocation
    check_allocation("size", (100000, 100000), 96 * 100000 * 100000, what="to render one frame")
    # ValueError: size=(100000, 100000) would need about 894 GiB to render one frame; pilotlens
    #             refuses more than 8.0 GiB (PILOTLENS_MAX_MEMORY raises the bound, e.g. 64G)

The bound is PILOTLENS_MAX_MEMORY when set (bytes, or with a K/M/G/T suffix), else the smaller of
8 GiB and the machine's physical memory. The estimate is the caller's: a peak, counted generously
(temporaries included), never a timing.

`check_json_depth` bounds the other thing a hostile file can ask for: nesting deeper than Python's
JSON reader can follow (it ends in a RecursionError that says nothing about the file).
"""
from __future__ import annotations

import os
import re

DEFAULT_BOUND = 8 * 1024 ** 3
ENV = "PILOTLENS_MAX_MEMORY"
JSON_DEPTH = 100  # levels; every JSON file pilotlens reads is a few levels deep


class TooLarge(ValueError):
    """An allocation a user's number drives is over the bound (a ValueError: a one-line user error)."""


def human(nbytes: float) -> str:
    """1536 -> '1.5 KiB'; 3.6e11 -> '335 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" or abs(nbytes) >= 100 else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def _physical() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def memory_bound() -> int:
    """The bound in bytes: PILOTLENS_MAX_MEMORY, else min(8 GiB, physical memory)."""
    text = os.environ.get(ENV, "").strip()
    if text:
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?", text, re.IGNORECASE)
        if not m:
            raise ValueError(f"{ENV}={text!r}: expected a number of bytes, optionally with K, M, G or T (e.g. 64G)")
        return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))
    physical = _physical()
    return min(DEFAULT_BOUND, physical) if physical else DEFAULT_BOUND


def check_allocation(option: str, value, nbytes: float, *, what: str = "") -> None:
    """Raise TooLarge when `nbytes` (the estimated peak that `option`=`value` drives) is over the bound.

    `option` is what the user typed (``size``, ``--scale``, ``rise.masks``); `what` says what the
    memory is for ("to render one frame"). The message names all three and the bound.
    """
    bound = memory_bound()
    if nbytes > bound:
        shown = value if isinstance(value, str) else repr(value)
        raise TooLarge(f"{option}={shown} would need about {human(nbytes)}{' ' + what if what else ''}; pilotlens "
                       f"refuses more than {human(bound)} ({ENV} raises the bound, e.g. {ENV}=64G)")


def json_depth(text: str) -> int:
    """How deeply `text`'s JSON arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def json_too_deep(text: str, limit: int = JSON_DEPTH) -> int:
    """`text`'s JSON depth when it is over `limit`, else 0. Cheap for ordinary text: the character by
    character count runs only when the text holds more opening brackets than the limit."""
    if text.count("[") + text.count("{") <= limit:
        return 0
    depth = json_depth(text)
    return depth if depth > limit else 0


def check_json_depth(text: str, where: str, limit: int = JSON_DEPTH) -> None:
    """Raise ValueError naming `where` (a file, or file:line) when `text` nests JSON deeper than `limit`."""
    depth = json_too_deep(text, limit)
    if depth:
        raise ValueError(f"{where}: JSON nested {depth} levels deep, deeper than the {limit} pilotlens reads")
