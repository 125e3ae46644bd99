"""The checks every reader makes on a file before trusting it.

- a regular file: a FIFO, socket or device named like an image would block a read forever (or never
  end), so it is refused by name before it is read;
- confined: a path a log names (a tub's image or catalog, a Udacity or SullyChen log's image) must stay
  inside the log's folder once resolved, symlinks included, or a crafted log reads any file on the
  machine;
- text: no larger than the memory bound allows (limits), UTF-8, and JSON no deeper than
  limits.JSON_DEPTH, each refused in one line naming the file.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..limits import JSON_DEPTH, check_allocation, human, json_too_deep

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class NotRegular(ValueError):
    """A path that exists but is not a regular file."""


def kind(mode: int) -> str:
    """What a non-regular st_mode is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for binary reading, refusing anything but a regular file.

    O_NONBLOCK makes opening a FIFO return at once (it would wait for a writer otherwise); the type
    is then checked on the open descriptor, so a file swapped after a check cannot slip through.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(f"{path}: {kind(mode)}, not a regular file; pilotlens reads only files")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | os.PathLike) -> None:
    """Raise NotRegular when `path` exists and is not a regular file (missing paths pass: their reader says so)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegular(f"{path}: {kind(mode)}, not a regular file; pilotlens reads only files")


def confined(path: Path, root: Path, what: str) -> Path:
    """`path` once resolved (symlinks followed), or ValueError when that lies outside `root`."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise ValueError(f"{what} {path} lies outside {root} (it resolves to {real}); pilotlens reads only "
                         f"files inside it")
    return real


def read_text(path: str | os.PathLike, what: str = "text") -> str:
    """A regular file's text, or ValueError naming the file when it is not UTF-8 (`what`: "JSON", "CSV", ...).
    Its size is checked against the memory bound first (`limits`): the bytes, their text and what a
    reader parses them into take several times the file (8x, counted generously)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        check_allocation(f"{what} file", str(path), 8 * size, what=f"to read its {human(size)}")
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 {what} file (byte {exc.start} is {data[exc.start]:#04x})") from None


def parse_json(text: str, where: str = "", what: str = "JSON"):
    """json.loads with limits: too-deep nesting and malformed text raise ValueError, prefixed with
    `where` when given (a file, or file:line); `what` names the text ("line", "catalog line")."""
    prefix = f"{where}: " if where else ""
    depth = json_too_deep(text)
    if depth:
        raise ValueError(f"{prefix}{what} nested {depth} levels deep, deeper than the {JSON_DEPTH} pilotlens reads")
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or an integer longer than Python converts
        raise ValueError(f"{prefix}malformed {what} ({exc})") from None
