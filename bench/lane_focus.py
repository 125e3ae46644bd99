"""Do the shipped pilots look at the road? Map mass on lane markings and road edges, and how much a
frame's map changes with the road, per method.

    python bench/lane_focus.py                  # 200 frames of 4 unseen drives (seeds 701-704)
    python bench/lane_focus.py --frames 50 --pilot donkey
    python bench/lane_focus.py --methods all    # every registered method (RISE, Score-CAM: ~10 min)

For the methods in DEFAULT_METHODS (the README's tables; `--methods all`: every method in
`pilotlens.methods()` that applies to the pilot: cam does not, it needs a global average pool +
linear head, and PilotNet has a dense head), on fresh synthetic frames (seeds 701-704,
the randomised world: the shipped pilots were trained on seeds 1001-1100 and validated on 201-204),
from the driver's own poses:

* the attribution is computed for the angle output (target 0) on the pilot's input, then brought
  back onto the frame's own pixels with `Pilot.to_frame` (bilinear; zero outside the crop);
* its **mass** is the attribution's magnitude, |raw| (raw is what the method computes before the
  per-image min-max normalisation: for integrated gradients and occlusion it is signed, and the
  [0, 1] `maps` would put "no attribution" at mid-grey and give every pixel mass; for the other
  methods raw is already >= 0);
* for each mask, inside the pilot's crop: **mass** = sum(mass on the mask) / sum(mass), **area** =
  the mask's share of the crop's pixels, **lift** = mass / area (1 = no better than a uniform map).
  Mass and area are means over frames (frames where a map is all zero are left out); lift is the
  ratio of the two means.

Masks, from the synthetic world (randomised look, no obstacles; boxes beside the road, shadows and
lighting on):

* **markings**: its `lane_markings` mask: the centre line (dashed, solid or double, where the
  stretch has one) and the edge lines (where it has them);
* **road edges**: the asphalt/grass boundary: road pixels with grass within 2 px left or right, and
  grass pixels with road within 2 px (a horizontal band of 2 px each side of the boundary, from
  a 1 x 5 dilation minus a 1 x 5 erosion of the `road` mask; the image's own border is not an edge);
  it lies just outside the edge lines (0.1-0.35 m inside the road edge), so the two overlap
  only in the distance;
* **markings + edges**: their union (its lift is the "map mass on lane markings plus road edges
  over their area share" of the target, >= 2 for at least three methods);
* **road**: the `road` mask (asphalt and its markings).

**cosine**: a map that follows the road changes when the road does. Each frame's mass map (|raw|
on the model's input grid, divided by its sum) is compared with the mean of those maps over its own
drive: cosine similarity, averaged over all frames (1 = every frame gets the same map, a fixed
template; frames whose map is all zero are left out). Uniform noise scores about 0.87
(E[u] / sqrt(E[u^2]) for u ~ U(0, 1)); the target for
visual_backprop, gradient and grad_cam is <= 0.8.

A `random` row (uniform noise on the model's input grid, seeded, through the same to_frame) is the
baseline: its lift is 1 up to the bilinear smoothing. Fast options keep the slow methods cheap
(occlusion 24-px windows at stride 16: 48 windows on PilotNet's 200 x 66 input; integrated gradients
8 Gauss-Legendre steps; smoothgrad 8 samples): about a minute of one core for 200 frames.
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

import pilotlens
from pilotlens.data.synthetic import SyntheticSource
from pilotlens.models.pilot import Pilot

SEEDS = (701, 702, 703, 704)
#: the methods of the README's tables: every method except RISE and the Score-CAM family, whose
#: hundreds of forward passes per frame take most of the ~10 min that `--methods all` needs
DEFAULT_METHODS = ("activation", "grad_cam", "gradient", "guided_backprop", "guided_grad_cam", "hypercolumns",
                   "integrated_gradients", "lrp", "occlusion", "smoothgrad", "visual_backprop")
SIZE = (160, 120)
FAST = {"occlusion": dict(window=24, stride=16), "integrated_gradients": dict(steps=8),
        "smoothgrad": dict(samples=8)}
SKIP = {"cam": "needs a global-average-pool + linear head (PilotNet and donkey have dense heads)"}
MASKS = ("markings", "road edges", "road")
EDGE_BAND = 2


def road_edges(road: np.ndarray, band: int = EDGE_BAND) -> np.ndarray:
    """Pixels within `band` px (horizontally) of a road / not-road boundary inside the image."""
    r = road.astype(np.uint8)
    kernel = np.ones((1, 2 * band + 1), np.uint8)
    grown = cv2.dilate(r, kernel, borderType=cv2.BORDER_REPLICATE)
    shrunk = cv2.erode(r, kernel, borderType=cv2.BORDER_REPLICATE)
    return grown.astype(bool) & ~shrunk.astype(bool)


def read(frames: int, step: int, seeds=SEEDS):
    """Frames (`frames` spread over the drives `seeds`), their masks (markings, road edges, road),
    each N x H x W bool, and the drive of each frame (N ints)."""
    out, masks, drive = [], {k: [] for k in MASKS}, []
    per = -(-frames // len(seeds))
    for seed in seeds:
        source = SyntheticSource(seed=seed, frames=per * step, step=step, size=SIZE)
        for frame in source:
            if len(out) == frames:
                break
            m = source.masks(frame.index)
            out.append(frame)
            drive.append(seed)
            masks["markings"].append(m["lane_markings"])
            masks["road edges"].append(road_edges(m["road"]))
            masks["road"].append(m["road"])
    return out, {k: np.stack(v) for k, v in masks.items()}, np.array(drive)


def template_cosine(mass: torch.Tensor, drive: np.ndarray) -> float:
    """Mean cosine similarity of each frame's map (mass / its sum) to its drive's mean map."""
    flat = mass.flatten(1).double()
    total = flat.sum(1, keepdim=True)
    live = (total[:, 0] > 0).numpy()                 # all-zero maps (e.g. grad_cam's ReLU) are left out
    flat = flat / total.clamp_min(1e-300)
    sims = []
    for seed in np.unique(drive):
        rows = flat[torch.from_numpy((drive == seed) & live)]
        if len(rows) == 0:
            continue
        sims.append(torch.nn.functional.cosine_similarity(rows, rows.mean(0, keepdim=True), dim=1))
    return float(torch.cat(sims).mean())


def attribution(pilot: Pilot, method: str, x: torch.Tensor, batch: int, seed: int) -> torch.Tensor:
    """|raw| of `method` for the angle output, B x h x w on the model's input grid."""
    if method == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(x.shape[0], x.shape[2], x.shape[3], generator=g)
    parts = []
    with pilotlens.explainer(pilot.model, method, **FAST.get(method, {})) as ex:
        for i in range(0, x.shape[0], batch):
            parts.append(ex(x[i:i + batch], target=0).raw.abs())
    return torch.cat(parts)


def shares(pilot: Pilot, mass: torch.Tensor, masks: dict[str, np.ndarray], frame_shape) -> dict[str, tuple]:
    """{mask: (mean mass share, mean area share)} inside the crop."""
    on_frame = pilot.to_frame(mass, frame_shape)                       # N x H x W, zero outside the crop
    top, bottom, left, right = pilot.crop
    h, w = frame_shape[:2]
    inside = (slice(None), slice(top, h - bottom), slice(left, w - right))
    m = on_frame[inside].astype(np.float64)
    total = m.sum((1, 2))
    live = total > 0
    out = {}
    for name, mask in masks.items():
        k = mask[inside]
        mass_share = (m * k).sum((1, 2))[live] / total[live]
        area_share = k.mean((1, 2))[live]
        out[name] = (float(mass_share.mean()), float(area_share.mean()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pilot", default="pilotnet", help="a shipped pilot or a pilot file (default pilotnet)")
    parser.add_argument("--frames", type=int, default=200, help="frames to measure (default 200)")
    parser.add_argument("--step", type=int, default=6, help="take one frame in STEP of the drive (default 6)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                        help=f"synthetic drives (default {' '.join(map(str, SEEDS))})")
    parser.add_argument("--batch", type=int, default=25, help="frames per explainer call (default 25)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                        help=f"these methods, or 'all' for every registered one (default: {' '.join(DEFAULT_METHODS)})")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pilot = Pilot.load(args.pilot)
    start = time.perf_counter()
    frames, masks, drive = read(args.frames, args.step, args.seeds)
    shape = frames[0].image.shape
    x = pilot.prepare(frames)
    print(f"{pilot.describe()}\n{len(frames)} frames of synthetic drives {', '.join(map(str, args.seeds))} "
          f"({shape[1]}x{shape[0]}, one in {args.step}); mass = |raw attribution| of the angle on the frame's pixels, "
          f"inside the crop\n")
    head = ("| method | " + " | ".join(f"mass on {m} | area | lift" for m in MASKS)
            + " | lift on markings + edges | cosine to the drive's mean map | seconds |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    skipped = []
    methods = pilotlens.methods() if args.methods == ["all"] else args.methods
    for method in [*(m for m in methods if m != "random"), "random"]:  # the baseline row last, once
        if method in SKIP:
            skipped.append(f"{method}: {SKIP[method]}")
            continue
        t = time.perf_counter()
        try:
            mass = attribution(pilot, method, x, args.batch, args.seeds[0])
        except (ValueError, TypeError, RuntimeError) as exc:
            skipped.append(f"{method}: {exc}")
            continue
        result = shares(pilot, mass, {**masks, "lane": masks["markings"] | masks["road edges"]}, shape)
        cells = " | ".join(f"{result[m][0]:.3f} | {result[m][1]:.3f} | {result[m][0] / result[m][1]:.2f}"
                           for m in MASKS)
        lane = result["lane"][0] / result["lane"][1]
        print(f"| {method} | {cells} | {lane:.2f} | {template_cosine(mass, drive):.3f} | "
              f"{time.perf_counter() - t:.1f} |", flush=True)
    for line in skipped:
        print(f"\nskipped {line}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
