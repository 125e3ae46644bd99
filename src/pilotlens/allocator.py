"""Keep freed memory for reuse (glibc): steadier and faster CPU explanations, at the cost of memory.

torch allocates CPU tensors with malloc. With glibc's defaults, the blocks of a freed activation go back
to the operating system, and the next batch faults every page back in (the kernel zeroes each one).
Between explanations that free tens of MB this costs a third of a forward pass and more: on the shipped
PilotNet, batch 32, one thread, a plain forward took 33 ms alone and 43-47 ms right after a Grad-CAM call;
`pilotlens movie` with occlusion and gradient ran at 8.4-9.6 frames/s and 11.4-12.0 with the blocks kept.

`keep_freed_memory()` tells glibc to serve blocks up to 32 MB from its heap (M_MMAP_THRESHOLD, glibc's
largest) and to hand memory back only past 1 GB free at the heap's top (M_TRIM_THRESHOLD). The process
then keeps its peak memory until it exits. The pilotlens command does this at start
(PILOTLENS_KEEP_MEMORY=0 turns it off); a program that uses the library calls it if it wants it.
Elsewhere than glibc (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3     # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20                       # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse (see the module). True if it took both settings; False
    elsewhere than glibc, or when the environment sets PILOTLENS_KEEP_MEMORY=0."""
    if os.environ.get("PILOTLENS_KEEP_MEMORY", "1").strip() == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
