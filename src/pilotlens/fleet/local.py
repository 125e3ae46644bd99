"""The local engine: the parts one after another in this process, with no Ray."""
from __future__ import annotations

from typing import Sequence

from .plan import Log, Part, known_frames
from .work import Job, Worker


def run_local(job: Job, parts: Sequence[Part], movies: Sequence[Log], progress: bool = True) -> None:
    if not parts and not movies:
        return
    from tqdm import tqdm
    total = known_frames(parts)
    worker = Worker(job)
    try:
        with tqdm(total=total, unit="frame", desc=job.out, disable=not progress, dynamic_ncols=True) as bar:
            for part in parts:
                bar.update(worker.run(part)["frames"])
            for log in movies:
                worker.movie(log.path, log.folder)
    finally:
        worker.close()
