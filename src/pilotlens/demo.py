"""`pilotlens demo`: a synthetic drive explained by a shipped pilot, on a fresh install, nothing downloaded.

The drive is of the randomised world (seed 1: a drive none of the shipped pilots was trained on, where
both pilots' VisualBackProp follows the lines: lift on the lane markings and road edges over its 200 frames
4.4 for PilotNet and 7.0 for donkey, against medians of 4.1 and 5.4 over seeds 1-18; see the README); the
pilot then drives a stretch of it on its own (closed loop, `pilotlens.drive`) and its autonomy is printed.
"""
from __future__ import annotations

import time
from pathlib import Path

from .data.synthetic import SyntheticSource
from .drive import drive
from .figures import grid_figure
from .models.pilot import Pilot
from .outputs import check_output_dir
from .pipeline import movie
from .render.look import Look
from .render import save_image

METHODS = ("visual_backprop", "grad_cam")
SEED = 1            # a drive none of the shipped pilots was trained on (they saw seeds 1001-1100)
SIZE = (160, 120)   # the camera the shipped pilots were trained with
SHIPPED = ("pilotnet", "donkey")   # the grid and the closed loop show both shipped pilots
GRID_FRAMES = (40, 100, 150, 185)  # seed 1: in a left bend, a slight right, a left bend coming, deep in it


def _say(text: str) -> None:
    """A line saying what the next quiet stretch is doing (printed before it starts, flushed now)."""
    print(text, flush=True)


def run_demo(out_dir: str | Path = "pilotlens-demo", frames: int = 200, model: str = "pilotnet",
             progress: bool = True) -> dict[str, Path]:
    """Write demo.mp4 (input with steering gauge, then each method, for `model`) and demo-grid.png
    (4 frames x methods, for `model` and the other shipped pilot); print how each drives `frames`
    frames of the same world on its own."""
    if frames < 4:
        raise ValueError("the demo needs at least 4 frames")
    out_dir = check_output_dir(out_dir)
    pilot = Pilot.load(model)
    start = time.perf_counter()
    look = Look(scale=2)
    summary = movie(pilot, SyntheticSource(seed=SEED, frames=frames, size=SIZE), out_dir / "demo.mp4", METHODS,
                    look=look, progress=progress)
    source = SyntheticSource(seed=SEED, frames=frames, size=SIZE)
    picks = [i for i in GRID_FRAMES if i < frames] if frames >= 200 else list(range(0, frames, frames // 4))[:4]
    stills = [f for f in source if f.index in picks]
    pilots = {model: pilot, **{name: Pilot.load(name) for name in SHIPPED if name != model}}
    print(summary)
    _say(f"drawing the grid: {len(stills)} frames x {len(pilots)} pilots x {len(METHODS)} methods ...")
    save_image(out_dir / "demo-grid.png", grid_figure(pilots, stills, METHODS, look=look))
    print(f"wrote {out_dir / 'demo-grid.png'}")
    for name, p in pilots.items():
        _say(f"closed loop, {name} driving {frames} frames on its own ...")
        print(f"closed loop, {name} driving on its own: {drive(p, seed=SEED, frames=frames, size=SIZE, progress=progress)}")
    print(f"demo done in {time.perf_counter() - start:.1f} s with the shipped pilot {model!r}: "
          f"{pilot.describe().splitlines()[0]}")
    return {"video": out_dir / "demo.mp4", "grid": out_dir / "demo-grid.png"}
