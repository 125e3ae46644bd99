"""`pilotlens movie`: explain every frame of a drive and write a video or a PNG folder."""
from __future__ import annotations

from .arguments import add_explain, add_input, add_look, add_model, explain_options, look, open_input, open_model, verb

EXAMPLE = ("pilotlens movie --model pilotnet --input synthetic --input-option frames=300 "
           "--method visual_backprop --method grad_cam --out drive.mp4")


def register(sub) -> None:
    p = verb(sub, "movie", "explain every frame of a drive and write a video (mp4, gif, avi, webm) or a PNG folder",
             EXAMPLE, run)
    add_model(p)
    add_input(p)
    p.add_argument("--out", required=True, help="output: .mp4 (H.264, plays in browsers), .gif, .avi, .webm, or a folder/")
    add_explain(p)
    add_look(p)
    p.add_argument("--batch-size", type=int, default=32, help="frames per model call (default 32)")
    p.add_argument("--fps", type=float, default=None, help="frames per second (default: the source's, else 20)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    from ..pipeline import check_movie_output, movie
    source = open_input(args)
    check_movie_output(args.out, source)
    summary = movie(open_model(args), source, args.out, **explain_options(args), look=look(args),
                    batch_size=args.batch_size, fps=args.fps, progress=not args.quiet)
    print(summary)
