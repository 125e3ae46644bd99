"""The viewer's speed against the issue's targets: a scrub step <= 150 ms, live mode >= 20 frames/s.

scrub: the shipped PilotNet on a 160x120 synthetic drive; each step asks the server (over real HTTP on
127.0.0.1) for one frame not seen before, with visual_backprop and grad_cam, and times request ->
answer with both maps drawn and encoded. Also timed in-process (the Viewer call without HTTP) and,
for scale, the model's plain forward pass at batch 1 in the same run.

live: LiveLoop on a 160x120 synthetic stream (pre-rendered frames, cycled) with one method, unpaced (the
reader competes with the model for the CPU) and paced like a 30 frames/s camera; answers per second
over `--seconds`, the explain+draw time and the latency (frame grabbed -> answer ready, frame and map
drawn and encoded).

    python bench/view_speed.py [--steps 40] [--seconds 10] [--live-method visual_backprop] [--threads T]

Absolute times on a shared machine are noise: the header prints torch's thread count and the load.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import statistics
import threading
import time
import urllib.request

import torch


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def scrub(steps: int) -> None:
    from werkzeug.serving import make_server

    from pilotlens.view import build_viewer
    from pilotlens.view.server import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    viewer = build_viewer("pilotnet", "synthetic", {"frames": 2 * steps + 10, "size": (160, 120)})
    server = make_server("127.0.0.1", 0, create_app(viewer), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/api/explain"
    settings = {"methods": ["visual_backprop", "grad_cam"]}

    def ask(position: int) -> float:
        body = json.dumps({"positions": [position], "settings": settings}).encode()
        req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as resp:
            answer = json.load(resp)
        ms = (time.perf_counter() - t) * 1000
        assert set(answer["results"][0]["maps"]) == set(settings["methods"])
        return ms

    ask(0)  # warm up: the explainers are built on first use
    http_ms = [ask(p) for p in range(1, steps + 1)]
    s = viewer.settings(settings)
    direct_ms = []

    def direct() -> None:
        for p in range(steps + 1, 2 * steps + 1):
            t = time.perf_counter()
            viewer.explain([p], s)
            direct_ms.append((time.perf_counter() - t) * 1000)

    # in a worker thread, as the server runs it: on a loaded 2-core machine the main thread's two OpenMP
    # threads wait on each other (measured here: 108 ms a step in the main thread, 11 ms in a worker)
    worker = threading.Thread(target=direct)
    worker.start()
    worker.join()
    x = viewer.pilot.prepare([viewer.drive.frame(0)])
    fwd = []

    def forward() -> None:
        with torch.no_grad():
            for _ in range(steps):
                t = time.perf_counter()
                viewer.pilot.model(x)
                fwd.append((time.perf_counter() - t) * 1000)

    worker = threading.Thread(target=forward)  # where the server runs it, too
    worker.start()
    worker.join()
    server.shutdown()
    viewer.close()
    med = statistics.median(http_ms)
    print(f"scrub step, PilotNet, visual_backprop + grad_cam, one new 160x120 frame per request ({steps} steps):")
    print(f"  over HTTP     median {med:6.1f} ms   p90 {percentile(http_ms, 0.9):6.1f} ms   max {max(http_ms):6.1f} ms"
          f"   target <= 150 ms: {'met' if med <= 150 else 'NOT met'} (median)")
    print(f"  in-process (worker thread) median {statistics.median(direct_ms):6.1f} ms   p90 {percentile(direct_ms, 0.9):6.1f} ms")
    print(f"  plain forward median {statistics.median(fwd):6.2f} ms (batch 1)   "
          f"step / forward = {med / statistics.median(fwd):.0f}x")


def live(seconds: float, method: str, pace: float | None) -> None:
    from pilotlens.data import open_source
    from pilotlens.models.pilot import Pilot
    from pilotlens.view.app import Viewer
    from pilotlens.view.settings import Settings

    frames = [f.image for f in open_source("synthetic", frames=50, size=(160, 120))]
    viewer = Viewer(Pilot.load("pilotnet"), None, model_name="pilotnet")
    viewer.live_settings = Settings(methods=(method,))
    loop = viewer.start_live(itertools.cycle(frames), pace=pace)
    time.sleep(1.0)  # warm up
    start_count, start = loop.count, time.perf_counter()
    latencies, work, seen = [], [], 0
    while time.perf_counter() - start < seconds:
        answer = loop.latest(seen, wait=1.0)
        if answer:
            seen = answer["seq"]
            latencies.append(answer["latency_ms"])
            work.append(answer["ms"])
    fps = (loop.count - start_count) / (time.perf_counter() - start)
    viewer.close()
    stream = "unpaced (as fast as the reader goes)" if not pace else f"paced at {1 / pace:.0f} frames/s"
    print(f"live, PilotNet, {method}, 160x120 synthetic stream {stream}, {seconds:.0f} s:")
    print(f"  {fps:5.1f} frames/s explained   per frame: explain+draw median {statistics.median(work):5.1f} ms,"
          f" latency median {statistics.median(latencies):5.1f} ms p90 {percentile(latencies, 0.9):5.1f} ms"
          f"   target >= 20 frames/s: {'met' if fps >= 20 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--live-method", default="visual_backprop")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.1f} (a shared machine: absolute times are noisy)")
    scrub(args.steps)
    live(args.seconds, args.live_method, None)
    live(args.seconds, args.live_method, 1 / 30)  # a 30 frames/s camera


if __name__ == "__main__":
    main()
