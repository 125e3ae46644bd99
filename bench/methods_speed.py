"""What every pilotlens method costs on the shipped PilotNet, as a multiple of its fastest forward pass, and
Score-CAM against torchcam's ScoreCAM making the same map; all measured in one run.

    nice python bench/methods_speed.py                 # batch 32, ~10 min on a shared 2-core machine
    nice python bench/methods_speed.py --quick         # fewer rounds, cheaper options for the sampled methods

Each round times every method once (in an order shuffled anew each round, seeded, as explain_speed.py does),
each right after the forward pass on both layouts (`torch.no_grad()`, model(x) on the NCHW batch and on a
channels_last copy; the faster of the two is the unit, as in explain_speed.py); a method's figure is the
median over rounds of its time divided by the median of that round's fastest forward passes. Absolute times on a shared machine
are noise; the ratios much less so. The sampled methods (ss_cam, is_cam, rise) cost in proportion to their
samples / masks: the options used are printed.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings

import torch

import pilotlens
from pilotlens.models.pilot import Pilot

import explain_speed as es  # bench/ is on the path when this runs as a script

warnings.filterwarnings("ignore")

#: the issue's targets (ratio to the forward pass at batch 32)
GRADIENT_CAMS = ("grad_cam", "grad_cam_pp", "x_grad_cam", "hires_cam", "layer_cam")
TARGET_GRADIENT_CAM = 1.2


def frames_batch(pilot: Pilot, batch: int) -> torch.Tensor:
    from pilotlens.data import open_source
    frames = list(open_source("synthetic", seed=7, frames=batch))
    return pilot.prepare(frames)


def options(quick: bool) -> dict[str, dict]:
    few = quick
    return {"ss_cam": {"samples": 2 if few else 10}, "is_cam": {"samples": 2 if few else 10},
            "rise": {"masks": 100 if few else 1000}, "occlusion": {}, "integrated_gradients": {},
            "smoothgrad": {}}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5, help="rounds for the fast methods (the costly ones run 1-2)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--methods", default="", help="comma-separated subset")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    allocator = es.steady_allocator()
    pilot = Pilot.load("pilotnet")
    model = pilot.model.eval()
    x = frames_batch(pilot, args.batch)
    opts = options(args.quick)
    names = [m for m in pilotlens.methods() if m != "cam"]  # cam needs a global-average-pool head; PilotNet has none
    if args.methods:
        names = [m for m in names if m in args.methods.split(",")]
    explainers = {m: pilotlens.explainer(model, m, **opts.get(m, {})) for m in names}

    # the methods get x as Pilot.prepare makes it (channels_last where the model runs that way); the unit
    # times both layouts whatever x came in
    x_nchw, x_cl = x.contiguous(), x.contiguous(memory_format=torch.channels_last)

    def forward():  # the fastest forward pass: both layouts timed, the faster one's time returned
        with torch.no_grad():
            return min(timed(lambda: model(x_nchw)), timed(lambda: model(x_cl)))

    for _ in range(3):
        forward()
    cheap = [m for m in names if m not in ("score_cam", "ss_cam", "is_cam", "ablation_cam", "rise", "occlusion",
                                           "integrated_gradients", "smoothgrad")]
    ratios: dict[str, list[float]] = {m: [] for m in names}
    for m in names:   # warm-up: first calls trace layers and fill caches
        if m in cheap:
            explainers[m](x)
    shuffle = random.Random(0)
    for r in range(args.rounds):
        times, forwards = {}, []
        for m in shuffle.sample(names, len(names)):
            if m not in cheap and r >= (1 if args.quick else 2):
                continue
            forwards.append(forward())
            times[m] = timed(lambda: explainers[m](x))
        f = statistics.median(forwards)  # a forward slowed by one noisy moment moves no single method
        for m, t in times.items():
            ratios[m].append(t / f)

    print(f"pilotlens methods on the shipped PilotNet, batch {args.batch}, {args.threads} thread(s), "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs (shared machine: run under nice); {allocator}")
    print(f"{'method':22s} {'x fastest forward':>18s}  rounds  options")
    for m in names:
        flag = ""
        if m in GRADIENT_CAMS:
            flag = "  ok (<= 1.2)" if statistics.median(ratios[m]) <= TARGET_GRADIENT_CAM else "  ABOVE 1.2"
        print(f"{m:22s} {statistics.median(ratios[m]):18.2f}  {len(ratios[m]):6d}  {opts.get(m, {}) or ''}{flag}")

    if args.methods and "score_cam" not in args.methods.split(","):
        return
    try:
        from torchcam.methods import ScoreCAM as TorchcamScoreCAM
    except Exception as exc:  # noqa: BLE001
        print(f"torchcam not available ({exc}); Score-CAM comparison skipped")
        return
    # the last conv's ReLU: Score-CAM weights non-negative activations (on the pre-ReLU conv the trained pilot's
    # map is all zero for output 0, which would compare nothing)
    layer_name, layer = pilotlens.find_layer(model, "features.relu5")
    ours = pilotlens.explainer(model, "score_cam", layer=layer_name)

    def theirs():
        with TorchcamScoreCAM(model, layer, batch_size=32, input_shape=tuple(x.shape[1:])) as ex, torch.no_grad():
            model(x)
            cams = ex(class_idx=[0] * x.shape[0], normalized=False)[0]
        return torch.nn.functional.interpolate(cams[:, None], size=x.shape[2:], mode="bilinear",
                                               align_corners=False)[:, 0]

    rounds = 1 if args.quick else 2
    t_ours, t_theirs = [], []
    for r in range(rounds):
        f = forward()
        start = time.perf_counter()
        mine = ours(x, target=0).raw
        t_ours.append((time.perf_counter() - start) / f)
        f = forward()
        start = time.perf_counter()
        ref = theirs()
        t_theirs.append((time.perf_counter() - start) / f)
    scale = ref.abs().max().item() or 1.0
    print(f"\nScore-CAM at {layer_name}, output 0, batch {args.batch}: pilotlens {statistics.median(t_ours):.1f}x "
          f"forward (batch_size {ours.options['batch_size']}), torchcam {statistics.median(t_theirs):.1f}x "
          f"(batch_size 32): torchcam / pilotlens = {statistics.median(t_theirs) / statistics.median(t_ours):.2f}; "
          f"largest map difference {((mine - ref).abs().max().item() / scale):.1e} of the map's scale")


if __name__ == "__main__":
    sys.exit(main())
