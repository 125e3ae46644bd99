"""`pilotlens demo`: a synthetic drive explained with a shipped pilot (demo.mp4 and demo-grid.png)."""
from __future__ import annotations

from .arguments import verb

EXAMPLE = "pilotlens demo --out demo/"


def register(sub) -> None:
    p = verb(sub, "demo", "render a synthetic drive, explain it with a shipped pilot, write demo.mp4 and demo-grid.png",
             EXAMPLE, run)
    p.add_argument("--out", default="pilotlens-demo", help="output folder (default ./pilotlens-demo)")
    p.add_argument("--frames", type=int, default=200, help="frames to render (default 200, 10 s at 20 fps)")
    # a shipped pilot's name only (the demo's captions are written for them), not the model group
    p.add_argument("--model", default="pilotnet", help="shipped pilot to explain (default pilotnet)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    from ..demo import run_demo
    run_demo(args.out, frames=args.frames, model=args.model, progress=not args.quiet)
