"""donkeycar's myconfig.py read as data: literal assignments only, parsed with ast, never executed."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any


def read_myconfig(path) -> dict[str, Any]:
    """{NAME: value} for each top-level `NAME = <literal>` in a donkeycar config file (myconfig.py,
    config.py). Assignments whose value is not a Python literal (`IMAGE_W * 2`, function calls) are
    left out; nothing in the file runs. Later assignments win, as when Python runs it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no donkeycar config file {path}")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable Python config file ({e})") from e
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            for t in targets:  # a later non-literal assignment hides an earlier literal one
                if isinstance(t, ast.Name):
                    values.pop(t.id, None)
            continue
        for t in targets:
            if isinstance(t, ast.Name):
                values[t.id] = literal
    return values


def roi_crop(values: dict, path="myconfig") -> tuple[int, int]:
    """(ROI_CROP_TOP, ROI_CROP_BOTTOM) from a read config (0 where unset), checked."""
    out = []
    for key in ("ROI_CROP_TOP", "ROI_CROP_BOTTOM"):
        v = values.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{path}: {key} must be a non-negative whole number of pixels, got {v!r}")
        out.append(v)
    return out[0], out[1]
