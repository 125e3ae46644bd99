"""`pilotlens demo`: a synthetic drive explained by a shipped pilot, on a fresh install, nothing downloaded."""
from __future__ import annotations

import time
from pathlib import Path

from .data.synthetic import SyntheticSource
from .figures import grid_figure
from .models.pilot import Pilot
from .pipeline import movie
from .render.look import Look
from .render import save_image

METHODS = ("visual_backprop", "grad_cam")
SEED = 7            # a drive none of the shipped pilots was trained on
SIZE = (160, 120)   # the camera the shipped pilots were trained with


def run_demo(out_dir: str | Path = "pilotlens-demo", frames: int = 200, model: str = "pilotnet",
             progress: bool = True) -> dict[str, Path]:
    """Write demo.mp4 (input with steering gauge, then each method) and demo-grid.png (4 frames x methods)."""
    if frames < 4:
        raise ValueError("the demo needs at least 4 frames")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pilot = Pilot.load(model)
    start = time.perf_counter()
    look = Look(scale=2)
    summary = movie(pilot, SyntheticSource(seed=SEED, frames=frames, size=SIZE), out_dir / "demo.mp4", METHODS,
                    look=look, progress=progress)
    picks = SyntheticSource(seed=SEED, frames=frames, size=SIZE, step=frames // 4)
    stills = list(picks)[:4]
    save_image(out_dir / "demo-grid.png", grid_figure({model: pilot}, stills, METHODS, look=look))
    print(f"{summary}\nwrote {out_dir / 'demo-grid.png'}\ndemo done in {time.perf_counter() - start:.1f} s "
          f"with the shipped pilot {model!r}: {pilot.describe().splitlines()[0]}")
    return {"video": out_dir / "demo.mp4", "grid": out_dir / "demo-grid.png"}
