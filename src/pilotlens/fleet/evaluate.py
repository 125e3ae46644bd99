"""`evaluate` on Ray: the per-frame work on a pool of actors, the report assembled on the driver.

    from pilotlens.fleet.evaluate import RayEngine
    evaluate(pilot, source, methods=[...], engine=RayEngine("pilotnet", actors=2))

The driver reads the frames, resolves the methods and the target and cuts the frames into the local
run's batches (`Run.rows`). Each batch is one unit of work: an actor (which opened the pilot from its
spec once) computes the batch's clean outputs and maps and runs every per-batch metric on it, with
the seeds the local run draws for that batch, and sends back its per-frame columns. The driver joins
them in batch order, metric by metric, into the Collector the local run would have filled, so
`_assemble` and `write_report` give the same report.

How each metric is split:
- deletion, insertion, road, shift, faithfulness_correlation, localisation, robustness: per batch, on
  the actors (their seeds are derived from the batch's index in the run).
- sanity: per chunk of `model_batch` frames, as `sanity_many` cuts the run's frames, on the actors, in
  a second pass that is given the trained maps and clean outputs of the first (the randomised models
  depend only on the seed, so each actor randomises its own copy the same way).
- temporal: on the driver. Its quiet pairs are chosen by medians over the whole drive, and a pair
  crosses every batch boundary; it only compares maps, so it costs nothing beside the rest.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import numpy as np
import torch

ON_DRIVER = ("temporal",)
SANITY = "sanity"


@dataclass(frozen=True)
class EvalJob:
    """What every actor needs (cloudpickled by Ray once per actor): the pilot's spec and the run's settings."""

    model: str
    model_options: Mapping[str, Any]
    precision: str
    methods: Sequence[Any]        # evaluate's resolved Methods, labels as on the driver
    target: Any                   # resolved on the driver, frozen per batch on the actor
    kind: str
    seed: int
    batch_size: int
    model_batch: int
    opts: Mapping[str, Mapping[str, Any]]
    metrics: tuple[str, ...]      # the per-batch metrics
    examples: int
    keep_maps: bool               # send the clean maps back (sanity, temporal)
    keep_x: bool                  # send the model inputs back (temporal)
    threads: int


class EvalActor:
    """A Ray Data callable class: opens the pilot from its spec once, then scores units (pickled bytes)."""

    def __init__(self, job: EvalJob):
        from ..evaluate.report import with_precision
        from ..models.open import open_pilot
        torch.set_num_threads(job.threads)   # Ray sets OMP_NUM_THREADS from the actor's CPUs; say it here
        self.job = job
        self.pilot = with_precision(open_pilot(job.model, quiet=True, **dict(job.model_options)), job.precision)

    def __call__(self, batch: dict) -> dict:
        out = []
        for kind, payload in zip(batch["kind"], batch["payload"]):
            work = pickle.loads(payload)
            out.append(pickle.dumps(self.score_batch(work) if kind == "batch" else self.sanity(work)))
        return {"i": np.asarray(batch["i"]), "result": np.array(out, dtype=object)}

    def _run(self, images, names, masks=None, first_batch: int = 0):
        from ..evaluate.registry import Run
        from ..evaluate.report import Subject
        job = self.job
        subject = Subject(self.pilot.model, self.pilot, None, list(images), list(names), masks)
        return Run(subject, list(job.methods), job.target, job.kind, job.seed, job.batch_size, job.model_batch,
                   dict(job.opts), False, first_batch=first_batch)

    def score_batch(self, work: dict) -> dict:
        """One batch of the run: clean outputs and maps, then every per-batch metric."""
        from ..evaluate.registry import REGISTRY, Collector
        job = self.job
        run = self._run(work["images"], work["names"], work["masks"], first_batch=work["bi"])
        cols, times = {}, {}
        try:
            t = time.perf_counter()
            run.prepare(list(job.metrics), job.examples)
            times["maps"] = time.perf_counter() - t
            for name in job.metrics:
                t = time.perf_counter()
                cols[name] = Collector()
                REGISTRY[name].run(run, cols[name], dict(job.opts.get(name, {})))
                times[name] = time.perf_counter() - t
        finally:
            run.close()
        tr = run.trackers[0]
        return {"cols": cols, "times": times, "kind": tr.kind, "label": tr.label, "flat": dict(run.flat_maps),
                "shown": run.shown, "output": tr.output.detach().cpu(), "clean": tr.clean.detach().cpu(),
                "maps": {m: v[0].cpu() for m, v in run.maps.items()} if job.keep_maps else None,
                "x": run.x[0].cpu() if job.keep_x else None}

    def sanity(self, work: dict) -> dict:
        """One chunk of `model_batch` frames of the sanity check, given the trained maps and clean outputs."""
        from ..evaluate.registry import REGISTRY, Collector
        run = self._run(work["images"], work["names"])
        run.x = [run.subject.batch(slice(a, b)) for a, b in work["bounds"]]   # prepared as the run's batches
        run.trackers = [SimpleNamespace(output=work["output"])]              # the target is frozen on these
        run.maps = {m: [v] for m, v in work["maps"].items()}
        zero = {m.label: 0.0 for m in run.methods}   # the progress bar's costs: no bar on an actor
        run.cost, run.overhead, run.cold, run.compare = zero, zero, {}, 0.0
        col = Collector()
        t = time.perf_counter()
        REGISTRY[SANITY].run(run, col, {**dict(self.job.opts.get(SANITY, {})), "first": work["first"]})
        return {"col": col, "seconds": time.perf_counter() - t}


def _merge(into, part) -> None:
    """Append one unit's Collector to the run's (units in run order, so per-frame values stay in frame order)."""
    for name, column in part.columns.items():
        into.columns.setdefault(name, column)
    for key, values in part.values.items():
        into.values.setdefault(key, []).extend(values)
    for metric, per in part.curves.items():
        for method, curves in per.items():
            into.curves.setdefault(metric, {}).setdefault(method, []).extend(curves)
    into.fractions.update(part.fractions)
    for method, arrays in part.sanity.items():
        into.sanity.setdefault(method, []).extend(arrays)
    if part.stages:
        into.stages, into.threshold, into.sanity_mode = part.stages, part.threshold, part.sanity_mode


class RayEngine:
    """An `engine=` for `evaluate`: the per-frame work on Ray actors, the same report (see the module)."""

    def __init__(self, model: str, model_options: Mapping[str, Any] | None = None, *, address: str | None = None,
                 actors: int | None = None, threads_per_actor: int = 1):
        from .run import model_spec
        if not isinstance(model, str):
            raise TypeError("the Ray engine opens the pilot on every actor from its spec: give the model as a path "
                            f"or a name, not a {type(model).__name__}")
        if threads_per_actor < 1:
            raise ValueError(f"--threads-per-actor must be >= 1, got {threads_per_actor}")
        if actors is not None and actors < 1:
            raise ValueError(f"--actors must be >= 1, got {actors}")
        self.model, self.model_options = model_spec(model, model_options or {})
        self.address, self.actors, self.threads = address, actors, int(threads_per_actor)

    def __call__(self, run, col, chosen: list[str], opts, examples: int, out_dir) -> tuple[list[str], dict[str, float]]:
        from ..evaluate._common import dtype_of
        from .cluster import connected
        subject = run.subject
        if subject.images is None or subject.pilot is None:
            raise ValueError("the Ray engine scores frames read through a pilot (a source, frames or images), "
                             "not a model input tensor")
        per_batch = tuple(m for m in chosen if m not in ON_DRIVER and m != SANITY)
        job = EvalJob(self.model, self.model_options, "float64" if dtype_of(run.model) == torch.float64 else "float32",
                      list(run.methods), run.target, run.kind_asked, run.seed, run.batch_size, run.model_batch,
                      {k: dict(v) for k, v in opts.items()}, per_batch, examples,
                      keep_maps=SANITY in chosen or "temporal" in chosen, keep_x="temporal" in chosen,
                      threads=self.threads)
        masks = subject.masks or None
        units = [pickle.dumps({"bi": bi, "images": subject.images[rows], "names": subject.names[rows],
                               "masks": {k: v[rows] for k, v in masks.items()} if masks else None})
                 for bi, rows in enumerate(run.rows)]
        timings: dict[str, float] = {}
        with connected(self.address) as ray:
            t = time.perf_counter()
            results = _map_units(ray, job, ["batch"] * len(units), units, self.actors, self.threads, run.progress)
            timings["actors"] = time.perf_counter() - t
            _fill(run, results, examples)
            for r in results:
                for name, seconds in r["times"].items():
                    timings[name] = timings.get(name, 0.0) + seconds
            if SANITY in chosen:
                t = time.perf_counter()
                chunks = _sanity_units(run)
                sanity = _map_units(ray, job, ["sanity"] * len(chunks), chunks, self.actors, self.threads,
                                    run.progress)
                timings[SANITY] = sum(r["seconds"] for r in sanity)
                timings["actors"] += time.perf_counter() - t
        from ..evaluate.registry import REGISTRY
        for name in chosen:   # metric by metric, as the local run adds them: the columns in the same order
            if name == SANITY:
                for r in sanity:
                    _merge(col, r["col"])
            elif name in ON_DRIVER:
                t = time.perf_counter()
                REGISTRY[name].run(run, col, dict(opts.get(name, {})))
                timings[name] = time.perf_counter() - t
            else:
                for r in results:
                    _merge(col, r["cols"][name])
        return list(chosen), timings


def _fill(run, results: list[dict], examples: int) -> None:
    """What the report reads from the run (and temporal from its inputs), from the batches' results."""
    run.trackers = [SimpleNamespace(output=r["output"], clean=r["clean"], kind=r["kind"], label=r["label"])
                    for r in results]
    run.kind = "/".join(sorted({r["kind"] for r in results}))
    run.label = "/".join(sorted({r["label"] for r in results}))
    for m in run.methods:
        run.flat_maps[m.label] = sum(r["flat"][m.label] for r in results)
        run.shown[m.label] = [a for r in results for a in r["shown"][m.label]][:examples]
    if results[0]["maps"] is not None:
        run.maps = {m.label: [r["maps"][m.label] for r in results] for m in run.methods}
    if results[0]["x"] is not None:
        run.x = [r["x"] for r in results]


def _sanity_units(run) -> list[bytes]:
    """The sanity check's chunks as `sanity_many` cuts the run's frames (model_batch at a time), each with
    its frames, trained maps and clean outputs, and the run's batches inside it (to prepare them alike)."""
    n, size = len(run.subject), run.model_batch
    outputs = torch.cat([tr.output for tr in run.trackers])
    units = []
    for first in range(0, n, size):
        last = min(n, first + size)
        bounds = [(max(r.start, first) - first, min(r.stop, last) - first) for r in run.rows
                  if r.start < last and r.stop > first]
        units.append(pickle.dumps({"first": first, "images": run.subject.images[first:last],
                                   "names": run.subject.names[first:last], "bounds": bounds,
                                   "output": outputs[first:last],
                                   "maps": {m.label: run.all_maps(m.label)[first:last] for m in run.methods}}))
    return units


def _map_units(ray, job: EvalJob, kinds: list[str], payloads: list[bytes], actors: int | None,
               threads: int, progress: bool = False) -> list[dict]:
    """The units on a pool of EvalActors, one unit per Ray Data batch, a bar counting them as they finish;
    the results in unit order. A unit that fails (after Ray Data's retries) stops the run with the actor's
    own error in one line."""
    import ray.data   # noqa: F401  (before quieting: its loggers exist once it is imported)
    from ray.data import ActorPoolStrategy

    from .cluster import actor_error, quiet_ray_data
    from .ray_engine import data_context, pool_size, rows_as_done
    size = pool_size(ray.cluster_resources().get("CPU", 0), actors, threads)
    items = [{"kind": k, "i": i, "payload": p} for i, (k, p) in enumerate(zip(kinds, payloads))]
    with quiet_ray_data(), data_context(ray):
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(EvalActor, batch_size=1, compute=ActorPoolStrategy(size=min(size, len(items))),
                            num_cpus=threads, fn_constructor_kwargs={"job": job})
        unit = "batch" if kinds[0] == "batch" else "chunk"
        try:
            done = rows_as_done(ds, progress, len(items), f"evaluate on Ray ({kinds[0]})", unit, lambda row: 1)
        except Exception as exc:   # noqa: BLE001 - Ray's wrapper, whatever the actor raised
            raise RuntimeError(f"evaluate on Ray stopped: an actor failed on a {unit} ({actor_error(exc)})") from exc
    return [pickle.loads(r["result"]) for r in sorted(done, key=lambda r: int(r["i"]))]
