"""Which of pilotlens's numba-compiled kernels still have to be compiled in this environment.

numba compiles a kernel on its first call (seconds each) and caches the machine code beside the module
(or in numba's user cache where that is read-only); later processes load it in milliseconds. A command that
is about to pause for that can say so first (`evaluate` does), instead of sitting silent before its bar.
"""
from __future__ import annotations


def needs_compiling(dispatchers) -> bool:
    """Whether any of these numba functions has no compiled code cached for this environment (an index
    missing, or stale: numba drops an index whose source file changed). False when numba's cache cannot
    be read: the question is only worth a message, never an error."""
    try:
        return any(not d._cache._cache_file._load_index() for d in dispatchers)
    except Exception:  # noqa: BLE001 - numba's cache layout is not public API
        return False
