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


#: donkeycar's config.py defaults for what myconfig.py may leave out
DONKEY_DEFAULTS = {"IMAGE_W": 160, "IMAGE_H": 120, "ROI_CROP_TOP": 0, "ROI_CROP_BOTTOM": 0, "ROI_CROP_LEFT": 0,
                   "ROI_CROP_RIGHT": 0, "TRANSFORMATIONS": [], "POST_TRANSFORMATIONS": []}


def setting(values: dict, key: str, path="myconfig"):
    """A donkeycar setting from a read config, its donkeycar default where it is not set."""
    return values.get(key, DONKEY_DEFAULTS[key])


def _pixels(values: dict, key: str, path) -> int:
    v = setting(values, key, path)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{path}: {key} must be a non-negative whole number of pixels, got {v!r}")
    return v


def roi_crop(values: dict, path="myconfig") -> tuple[int, int, int, int]:
    """(ROI_CROP_TOP, ROI_CROP_BOTTOM, ROI_CROP_LEFT, ROI_CROP_RIGHT) from a read config, checked."""
    return tuple(_pixels(values, f"ROI_CROP_{side}", path) for side in ("TOP", "BOTTOM", "LEFT", "RIGHT"))  # type: ignore[return-value]


def image_size(values: dict, path="myconfig") -> tuple[int, int]:
    """(IMAGE_W, IMAGE_H): the camera frames donkeycar records and drives on."""
    return _pixels(values, "IMAGE_W", path), _pixels(values, "IMAGE_H", path)


def transformations(values: dict, path="myconfig") -> list[str]:
    """TRANSFORMATIONS + POST_TRANSFORMATIONS (donkeycar 4.2+ image steps run before the model)."""
    out = []
    for key in ("TRANSFORMATIONS", "POST_TRANSFORMATIONS"):
        v = setting(values, key, path)
        if not isinstance(v, (list, tuple)) or not all(isinstance(t, str) for t in v):
            raise ValueError(f"{path}: {key} must be a list of names, got {v!r}")
        out += list(v)
    return out
