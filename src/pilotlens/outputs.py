"""Where results go: checked before the work starts, written atomically, never over an input.

Every file pilotlens writes appears under its final name only when complete: it is written to a
hidden ``.<name>.partial-<pid>-XXXXXXXX`` next to it (same filesystem, so ``os.replace`` is atomic)
and renamed at the end. A run that fails, is interrupted (SIGINT) or terminated (SIGTERM, see
`cleanup_on_terminate`) removes its partial files; `remove_stale_partials` clears those a killed
(SIGKILL) run left behind, when a later run writes to the same place: only those whose process is
gone, so two runs to one output never delete each other's work (the later rename wins, atomically).
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

PARTIAL = ".partial-"
# partial paths of this process, removed on SIGTERM: process-wide because a signal handler (and the exit
# hook) can reach nothing else, and every writer in every thread must register where it writes
_live: set[str] = set()
_live_lock = threading.Lock()


def partial_path(path: str | os.PathLike, suffix: str = "") -> str:
    """A fresh hidden name beside `path` (``.<name>.partial-<pid>-XXXXXXXX<suffix>``), registered so that a
    SIGTERM removes it; `forget` it once it is renamed or removed."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    tmp = os.path.join(folder, f".{name}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}{suffix}")
    with _live_lock:
        _live.add(tmp)
    return tmp


def forget(tmp: str) -> None:
    with _live_lock:
        _live.discard(tmp)


def discard(tmp: str) -> None:
    """Remove a partial file or folder (quietly if it is gone) and forget it."""
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    forget(tmp)


def publish(tmp: str, path: str | os.PathLike) -> None:
    """Rename a finished partial file to its final name (atomic on one filesystem). When another run
    is still writing the same output, say that its result will replace this one (this run lost)."""
    os.replace(tmp, os.fspath(path))
    forget(tmp)
    rivals = other_writers(path)
    if rivals:
        import logging
        logging.getLogger("pilotlens").warning(
            "%s is being written by another run too (process %s): the one that finishes last keeps its result, "
            "and that will not be this one", os.fspath(path), ", ".join(map(str, rivals)))


def other_writers(path: str | os.PathLike) -> list[int]:
    """Process ids of other live runs with a partial file of `path` beside it."""
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    pids = set()
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    prefix = f".{name}{PARTIAL}"
    for entry in entries:   # runs at every publish: the cheap prefix test first
        if entry.startswith(prefix) and _owner_alive(entry):
            pids.add(int(_OWNER.search(entry).group(1)))
    return sorted(pids)


def publish_folder(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename a finished partial folder to `path`; an existing folder there is moved aside first and
    removed only once the new one is in place (never a moment with neither)."""
    tmp, path = os.fspath(tmp), os.fspath(path)
    olds = []
    for attempt in range(5):   # another run may publish the same folder between our two renames
        if os.path.isdir(path):
            olds.append(partial_path(path, ".old"))
            try:
                os.rename(path, olds[-1])
            except FileNotFoundError:   # the other run moved it first
                forget(olds.pop())
        try:
            os.rename(tmp, path)
            break
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt == 4:
                raise
    forget(tmp)
    for old in olds:
        discard(old)


@contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """``with atomic_file("a.png", ".png") as tmp: write(tmp)``: `path` appears only if the block ends
    without an exception; otherwise nothing is left (an older file at `path` stays as it was)."""
    tmp = partial_path(path, suffix)
    try:
        yield tmp
        publish(tmp, path)
    except OSError as e:
        discard(tmp)
        # a full disk says "[Errno 28] No space left on device" and names no file (or our hidden partial
        # name): say which output it was
        if (e.filename is None or os.fspath(e.filename) == tmp) and e.strerror:
            raise OSError(e.errno, e.strerror, os.fspath(path)) from e
        raise
    except BaseException:
        discard(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (flushed to disk before the rename)."""
    with atomic_file(path) as tmp:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def remove_stale_partials(folder: str | os.PathLike, name: str | None = None) -> list[str]:
    """Remove the partial files a killed run left in `folder` (only those of `name`, if given).
    Returns what was removed. Files of a run still going in another process look the same; pilotlens
    calls this only for the output it is about to write."""
    folder = os.fspath(folder)
    prefix = f".{name}{PARTIAL}" if name else "."
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in entries:
        if entry.startswith(prefix) and PARTIAL in entry:
            full = os.path.join(folder, entry)
            with _live_lock:
                mine = full in _live
            if not mine and not _owner_alive(entry):
                discard(full)
                removed.append(full)
    return removed


_OWNER = re.compile(re.escape(PARTIAL) + r"(\d+)-[0-9a-f]{8}")


def _owner_alive(entry: str) -> bool:
    """Whether the process that named this partial file still runs (a partial of another run going on
    now is its work, not litter). Names without a process id (older pilotlens) count as stale."""
    m = _OWNER.search(entry)
    if not m:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return False   # ours but no longer registered: a leftover of this process
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        return True    # exists, owned by someone else
    return True


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_folder_writable(folder: Path, what: str) -> None:
    if not folder.exists():
        raise FileNotFoundError(f"{what}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{what}: the folder {folder} is not writable")


def check_output_file(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
                      suffixes: Iterable[str] | None = None, what: str = "output") -> Path:
    """Check, before any work, that a file can be written at `path`: its folder exists and is writable,
    it is not a folder, it is none of `inputs`, and (if given) its suffix is one of `suffixes`.
    Stale partial files of `path` from a killed run are removed. Returns the path."""
    path = Path(path)
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if path.suffix.lower() not in allowed:
            raise ValueError(f"{what} {path}: the file name must end in {' or '.join(allowed)}")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give a file name")
    _check_inputs(path, inputs, what)
    folder = path.parent if str(path.parent) else Path(".")
    _check_folder_writable(folder, f"{what} {path}")
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{what} {path} exists and is not writable")
    remove_stale_partials(folder, path.name)
    return path


def check_output_dir(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
                     what: str = "output folder", create: bool = True) -> Path:
    """Check, before any work, that results can be written into the folder `path`: it is a folder (or
    its parent is a writable folder, and it is created when `create`), writable, and none of `inputs`
    nor inside one of them when that input is a folder. Returns the path."""
    path = Path(path)
    _check_inputs(path, inputs, what)
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(f"{what} {path} exists and is not a folder")
        _check_folder_writable(path, what)
    else:
        parent = path.parent if str(path.parent) else Path(".")
        _check_folder_writable(parent, f"{what} {path}")
        if create:
            path.mkdir()
    return path


def _check_inputs(path: Path, inputs: Iterable[str | os.PathLike], what: str) -> None:
    for given in inputs:
        src = Path(given)
        if _same(path, src):
            raise ValueError(f"{what} {path} is also an input: pilotlens never overwrites its input")


@contextmanager
def cleanup_on_terminate() -> Iterator[None]:
    """While the block runs (in the main thread), SIGTERM ends the run like Ctrl-C: every partial file
    is removed, then the process exits with status 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):  # noqa: ARG001
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM inside `cleanup_on_terminate` (a BaseException, like
    KeyboardInterrupt, so `except Exception` blocks do not swallow it)."""


def remove_all_partials() -> None:
    """Remove every partial file this process still has (the last resort on exit)."""
    with _live_lock:
        live = list(_live)
    for tmp in live:
        discard(tmp)

