"""`pilotlens drive`: a pilot drives the synthetic world in closed loop (the library: drive.py)."""
from __future__ import annotations

from .arguments import add_explain, add_model, explain_options, open_model, verb

EXAMPLE = ("pilotlens drive --model pilotnet --seed 901\n"
           "  pilotlens drive --model donkey --seed 905 --frames 600 --out drive.mp4 --method visual_backprop")


def register(sub) -> None:
    p = verb(sub, "drive", "let a pilot drive the synthetic world from its own predictions (closed loop)", EXAMPLE, run,
             description="Let a pilot drive the synthetic world from its own predictions and report "
                         "autonomy = 1 - interventions x 6 s / elapsed time (PilotNet's measure) and the "
                         "distance from the centre line.")
    add_model(p, required=False, default="pilotnet")
    p.add_argument("--seed", type=int, default=901, help="the synthetic world's seed (default 901)")
    p.add_argument("--frames", type=int, default=2000, help="frames to drive, at 20 per second (default 2000)")
    p.add_argument("--out", help="write the drive as an explained video (.mp4, .gif, ...)")
    add_explain(p, "an explanation method for --out, repeatable (default visual_backprop)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    from ..drive import drive
    from ..pipeline import check_movie_output
    if not args.out:
        given = [flag for flag, value in (("--method", args.method), ("--layer", args.layer),
                                          ("--target", args.target), ("--set", args.set)) if value]
        if given:
            raise ValueError(f"{given[0]} needs --out (the video to explain)")
    else:
        check_movie_output(args.out)     # before the drive, not after it
    pilot = open_model(args)
    if args.out:
        from ..pipeline import check_target
        check_target(pilot, args.target)
    result = drive(pilot, seed=args.seed, frames=args.frames, out=args.out, progress=not args.quiet,
                   **explain_options(args))
    print(f"{args.model}: {result}")
