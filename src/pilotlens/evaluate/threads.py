"""Work that lets go of the GIL (compiled code, SuperLU) mapped over items on several threads."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_threads(fn: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """[fn(item) for item in items], on up to `threads` threads that take the items in order as they come
    free; in this thread alone when there is one thread or one item."""
    workers = min(threads, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))
