"""`pilotlens batch`: explain a fleet's logs into per-frame Parquet, here or on a Ray cluster."""
from __future__ import annotations

from .arguments import (add_engine, add_explain, add_input, add_look, add_model, engine_options, explain_options,
                        input_options, look, model_options, selection, verb)

EXAMPLE = ("pilotlens batch --model pilotnet --input 'tubs/*' drive.mp4 --method visual_backprop "
           "--method grad_cam:signed=true --out explained/   (add --engine ray --actors 4 for Ray)")


def register(sub) -> None:
    p = verb(sub, "batch", "explain every frame of many logs into Parquet (one row per frame, a manifest written "
             "last); --engine ray for a Ray cluster", EXAMPLE, run)
    add_model(p)
    add_input(p)
    for action in p._actions:   # the shared --input, taking several logs and globs here
        if action.dest == "input":
            action.nargs, action.metavar = "+", "LOG"
            action.help = "logs, repeatable, globs allowed (quote them): tubs, videos, image folders, Udacity or " \
                          "SullyChen logs"
    p.add_argument("--out", required=True, help="output folder: one folder of parts per log, _SUCCESS.json at the end; "
                   "run again to resume")
    add_explain(p)
    add_look(p)
    p.add_argument("--movies", action="store_true", help="also write one explained video per log (LOG/movie.mp4)")
    p.add_argument("--batch-size", type=int, default=32, help="frames per model call (default 32)")
    p.add_argument("--part-batches", type=int, default=32, help="batches per Parquet part (default 32)")
    add_engine(p, "a pool of Ray actors, the same rows")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    from ..fleet import batch
    result = batch(args.model, args.input, args.out, **explain_options(args), model_options=model_options(args),
                   **selection(args), source_options=input_options(args), batch_size=args.batch_size,
                   part_batches=args.part_batches, movies=args.movies, look=look(args),
                   **engine_options(args), progress=not args.quiet)
    print(result)
