"""The Ray engine: the plan's parts, then the movies, on a pool of actors that open the pilot once per phase.

One dataset row per unit of work (a part, a whole video, or a movie), one block per row, so a batch
is exactly one unit; each actor writes its parts itself, atomically, under names the plan fixed, so
the order in which Ray finishes them does not matter and a retried unit cannot write twice. The
dataset's rows are only the small receipts the driver needs.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np

from .cluster import connected, quiet_ray_data
from .plan import Log, Part, known_frames
from .work import Job, Worker

# A unit whose code raises is tried again this many times (Ray Data's retried_map_errors); a unit whose
# actor died is run again on a restarted actor (Ray Data's default for actor pools: max_restarts=-1).
RETRIES = 2


class UnitActor:
    """A Ray Data callable class: opens the pilot from the job's spec once, then runs units."""

    def __init__(self, job: Job, parts: Sequence[Part], movies: Sequence[tuple[str, str]]):
        self.worker = Worker(job)
        self.parts, self.movies = list(parts), list(movies)

    def __call__(self, batch: dict) -> dict:
        frames = []
        for kind, i in zip(batch["kind"], batch["i"]):
            if kind == "part":
                frames.append(self.worker.run(self.parts[int(i)])["frames"])
            else:
                self.worker.movie(*self.movies[int(i)])
                frames.append(0)
        return {"kind": np.asarray(batch["kind"]), "i": np.asarray(batch["i"]), "frames": np.asarray(frames)}


def pool_size(cpus: float, actors: int | None, threads: int) -> int:
    """The actors to start: as asked, or all the CPUs but one; refused when none would be left for
    reading and writing (2 actors of 1 CPU on 2 CPUs hang Ray Data without an error)."""
    cpus = int(cpus)
    most = (cpus - 1) // threads
    if actors is None:
        if most < 1:
            raise ValueError(f"the Ray cluster has {cpus} CPU(s): an actor of {threads} thread(s) would leave none "
                             "for reading and writing; lower --threads-per-actor or use a larger cluster")
        return most
    if actors < 1:
        raise ValueError(f"--actors must be >= 1, got {actors}")
    if actors * threads > cpus - 1:
        raise ValueError(f"--actors {actors} x --threads-per-actor {threads} = {actors * threads} CPUs would leave "
                         f"{max(cpus - actors * threads, 0)} of the cluster's {cpus} CPUs for reading and writing "
                         f"(at least 1 is needed): use at most {max(most, 0)} actor(s) of {threads} thread(s)")
    return actors


@contextmanager
def data_context(ray) -> Iterator[None]:
    """Retries for failed units and actor starts, no progress bars; the driver's settings come back afterwards."""
    ctx = ray.data.DataContext.get_current()
    changed = {"retried_map_errors": True, "max_map_retries": RETRIES, "actor_init_retry_on_errors": True,
               "actor_init_max_retries": RETRIES, "enable_progress_bars": False}
    before = {k: getattr(ctx, k) for k in changed}
    for k, v in changed.items():
        setattr(ctx, k, v)
    try:
        yield
    finally:
        for k, v in before.items():
            setattr(ctx, k, v)


def rows_as_done(ds, progress: bool, total: int | None, desc: str, unit: str, amount: Callable[[dict], int]) -> list[dict]:
    """The dataset's rows as its units finish (Ray Data streams them: one unit per block), each advancing a
    progress bar by `amount(row)`."""
    from tqdm import tqdm
    rows = []
    with tqdm(total=total, unit=unit, desc=desc, disable=not progress, dynamic_ncols=True) as bar:
        for row in ds.iter_rows():
            rows.append(row)
            bar.update(amount(row))
    return rows


def run_ray(job: Job, parts: Sequence[Part], movies: Sequence[Log], *, address: str | None = None,
            actors: int | None = None, progress: bool = True) -> list[dict]:
    if not parts and not movies:
        return []
    threads = job.threads or 1
    with connected(address) as ray:
        import ray.data   # before quieting: its loggers exist once it is imported
        from ray.data import ActorPoolStrategy
        size = pool_size(ray.cluster_resources().get("CPU", 0), actors, threads)
        # a movie is drawn from its log's finished parts (fleet/stored.py): the movies run once every part is done
        phases = [[{"kind": "part", "i": i} for i in range(len(parts))],
                  [{"kind": "movie", "i": i} for i in range(len(movies))]]
        done = []
        with quiet_ray_data(), data_context(ray):
            for units in (u for u in phases if u):
                ds = ray.data.from_items(units, override_num_blocks=len(units))
                ds = ds.map_batches(UnitActor, batch_size=1, compute=ActorPoolStrategy(size=min(size, len(units))),
                                    num_cpus=threads,
                                    fn_constructor_kwargs={"job": job, "parts": list(parts),
                                                           "movies": [(m.path, m.folder) for m in movies]})
                if units[0]["kind"] == "part":
                    done += rows_as_done(ds, progress, known_frames(parts), job.out, "frame", lambda row: int(row["frames"]))
                else:
                    done += rows_as_done(ds, progress, len(units), f"{job.out}: movies", "movie", lambda row: 1)
    return sorted(({"kind": str(r["kind"]), "i": int(r["i"]), "frames": int(r["frames"])} for r in done),
                  key=lambda r: (r["kind"], r["i"]))
