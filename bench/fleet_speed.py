"""`pilotlens batch` speed: the local engine, Ray with 1..N actors, and `pilotlens movie` on the same logs.

For each engine: start-up (Ray's cluster start; the time to the first part on disk, which includes
starting an actor and opening the pilot there), frames/s end to end, steady frames/s per actor
(frames after the first part / time after it / actors), scaling efficiency fps(n) / (n x fps(1)),
Parquet bytes per frame, and the peak resident memory of this process and every process under it
(Ray's raylet and workers), with the 1-minute load average before and after each figure. Linux only
(memory from /proc). The Ray cluster is started here on loopback, like pilotlens does.

    python bench/fleet_speed.py --logs 4 --frames 256 --max-actors 3
    python bench/fleet_speed.py --quick          # a smoke run
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Watch:
    """Peak memory of the process tree (sampled), and when the first part under `out` was written
    (its file time, so the sampling's own pace does not matter)."""

    def __init__(self, out: Path):
        self.out, self.peak, self.stop = out, 0, threading.Event()
        self.start, self.wall = time.perf_counter(), time.time()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(os.getpid()))
            self.stop.wait(0.1)

    def close(self) -> tuple[float, int, float | None]:
        seconds = time.perf_counter() - self.start
        self.stop.set()
        self.thread.join()
        times = [p.stat().st_mtime for p in self.out.rglob("part-*.parquet")] if self.out.exists() else []
        return seconds, self.peak, (min(times) - self.wall if times else None)


def make_logs(root: Path, logs: int, frames: int) -> list[str]:
    from pilotlens.data import write_tub
    from pilotlens.data.synthetic import SyntheticSource
    paths = []
    for i in range(logs):
        paths.append(str(write_tub(root / f"tub_{i}", SyntheticSource(seed=i, frames=frames), fps=20)))
    return paths


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def row(name, frames, seconds, first, actors, peak, out: Path | None, before: str) -> dict:
    parts = sum(p.stat().st_size for p in out.rglob("*.parquet")) if out else 0
    return dict(name=name, frames=frames, seconds=seconds, fps=frames / seconds, first=first, actors=actors,
                bytes=parts / frames if parts else None, peak=peak, load=f"{before}->{load()}", steady=None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logs", type=int, default=4)
    ap.add_argument("--frames", type=int, default=256, help="frames per log")
    ap.add_argument("--max-actors", type=int, default=None, help="default: CPUs - 1")
    ap.add_argument("--model", default="pilotnet")
    ap.add_argument("--method", action="append", default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--part-batches", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for movie and the local engine (default 1, "
                    "as each actor has by default; 2 threads under contention are slower)")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--quick", action="store_true", help="2 logs of 64 frames, 1 actor")
    args = ap.parse_args()
    if args.quick:
        args.logs, args.frames, args.max_actors = 2, 64, 1
    methods = args.method or ["visual_backprop", "grad_cam:signed=true"]
    import torch
    from pilotlens import keep_freed_memory
    from pilotlens.data import open_source
    from pilotlens.fleet import batch
    from pilotlens.models import open_pilot
    from pilotlens.pipeline import movie
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="pilotlens-fleet-bench-"))
    rows = []
    try:
        logs = make_logs(root / "logs", args.logs, args.frames)
        total = args.logs * args.frames
        common = dict(methods=methods, batch_size=args.batch_size, part_batches=args.part_batches, progress=False)

        # pilotlens movie (H.264, no PNGs) on the same logs, the reference for the local engine
        before, w = load(), Watch(root / "none")
        pilot = open_pilot(args.model)
        for i, log in enumerate(logs):
            movie(pilot, open_source(log), str(root / f"movie_{i}.mp4"), methods, batch_size=args.batch_size,
                  progress=False)
        seconds, peak, _ = w.close()
        rows.append(row(f"movie (mp4), {torch.get_num_threads()} threads", total, seconds, None, None, peak, None, before))

        before, out = load(), root / "local"
        w = Watch(out)
        batch(args.model, logs, out, **common)
        seconds, peak, first = w.close()
        r = row(f"batch local, {torch.get_num_threads()} threads", total, seconds, first, None, peak, out, before)
        after_first = total - args.batch_size * args.part_batches
        if first is not None and after_first > 0 and seconds > first:
            r["steady"] = after_first / (seconds - first)    # one process: "per actor" = the process
        rows.append(r)

        if not args.no_ray:
            from pilotlens.fleet.cluster import connected
            cpus = os.cpu_count() or 1
            most = args.max_actors or max(1, cpus - 1)
            before, t0 = load(), time.perf_counter()
            with connected(num_cpus=cpus):
                started = time.perf_counter() - t0
                rows.append(dict(name=f"ray.init (local, {cpus} CPUs)", frames=0, seconds=started, fps=None,
                                 first=None, actors=None, bytes=None, peak=tree_rss(os.getpid()),
                                 load=f"{before}->{load()}", steady=None))
                for n in range(1, most + 1):
                    before, out = load(), root / f"ray_{n}"
                    w = Watch(out)
                    batch(args.model, logs, out, engine="ray", actors=n, threads_per_actor=1, **common)
                    seconds, peak, first = w.close()
                    r = row(f"batch ray, {n} actor(s) x 1 thread", total, seconds, first, n, peak, out, before)
                    after_first = total - args.batch_size * args.part_batches * n
                    if first is not None and after_first > 0 and seconds > first:
                        r["steady"] = after_first / (seconds - first) / n
                    rows.append(r)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(rows, args, methods)


def report(rows: list[dict], args, methods) -> None:
    one = next((r["fps"] for r in rows if r["actors"] == 1), None)
    print(f"\n{args.logs} tubs x {args.frames} frames, {args.model}, {', '.join(methods)}, batch {args.batch_size}, "
          f"parts of {args.batch_size * args.part_batches} frames, {os.cpu_count()} CPUs")
    print("| run | seconds | frames/s | first part (s) | steady frames/s per actor | scaling | bytes/frame "
          "| peak memory (MB) | load 1 min |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    fmt = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    for r in rows:
        scaling = r["fps"] / (r["actors"] * one) if r["actors"] and one else None
        print(f"| {r['name']} | {r['seconds']:.1f} | {fmt(r['fps'], '.1f')} | {fmt(r['first'], '.1f')} | "
              f"{fmt(r['steady'], '.1f')} | {fmt(scaling, '.2f')} | {fmt(r['bytes'], '.0f')} | "
              f"{r['peak'] / 2**20:.0f} | {r['load']} |")


if __name__ == "__main__":
    main()
