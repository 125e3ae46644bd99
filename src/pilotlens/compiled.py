"""Which of pilotlens's numba-compiled kernels still have to be compiled in this environment.

numba compiles a kernel on its first call (seconds each) and caches the machine code beside the module
(or in numba's user cache where that is read-only); later processes load it in milliseconds. A command that
is about to pause for that can say so first (`evaluate` does), instead of sitting silent before its bar.
"""
from __future__ import annotations

import os
import re


def needs_compiling(dispatchers) -> bool:
    """Whether any of these numba functions has no compiled code cached for this environment (an index
    missing, or stale: numba drops an index whose source file changed). False when numba's cache cannot
    be read: the question is only worth a message, never an error."""
    try:
        return any(not d._cache._cache_file._load_index() for d in dispatchers)
    except Exception:  # noqa: BLE001 - numba's cache layout is not public API
        return False


def pending(dispatchers) -> bool:
    """Whether these numba functions still have to compile in this environment (`needs_compiling`); when they
    do, the cache files older versions of them left go first (`prune_stale`), since new ones are about to be
    written. What a command asks before it says it is compiling."""
    if not needs_compiling(dispatchers):
        return False
    prune_stale(dispatchers)
    return True


def prune_stale(dispatchers) -> int:
    """Delete the cache files these numba functions left under an older line number; return how many went.

    numba names a function's cache files by the line it starts on, so an edit or an upgrade that moves it
    leaves the old files beside the module for good. Only files of these functions' own names and of this
    Python's tag are touched (another interpreter sharing the folder keeps its own); a function whose cache
    numba cannot answer for is passed over."""
    gone = 0
    for d in dispatchers:
        try:
            cache_file = d._cache._cache_file
            index, folder = cache_file._index_name, cache_file._cache_path
        except Exception:  # noqa: BLE001 - numba's cache layout is not public API
            continue
        named = re.fullmatch(r"(.+)-\d+(\.py\d+)\.nbi", index)
        if named is None:
            continue
        ours = re.compile(re.escape(named.group(1)) + r"-\d+" + re.escape(named.group(2)) + r"\.(?:\d+\.nbc|nbi)")
        current = index[:-len("nbi")]
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if ours.fullmatch(name) and not name.startswith(current):
                try:
                    os.remove(os.path.join(folder, name))
                    gone += 1
                except OSError:
                    pass
    return gone
