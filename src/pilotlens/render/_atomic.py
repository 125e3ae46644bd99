"""Temporary names next to a final path, so a result appears under its name only when complete."""
from __future__ import annotations

import os
import secrets


def partial_path(path: str, suffix: str = "") -> str:
    """A fresh hidden name in the same directory as `path` (same filesystem, so os.replace is atomic).

    The name starts with ".<final name>.partial-" so leftovers of a killed run are easy to recognise.
    """
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.partial-{secrets.token_hex(4)}{suffix}")


def remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
