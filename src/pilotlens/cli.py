"""`pilotlens ...`: thin verbs over the library. Every verb's --help has an example."""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

EXAMPLES = {
    "demo": "pilotlens demo --out demo/",
    "movie": "pilotlens movie --model pilotnet --input synthetic --input-option frames=300 "
             "--method visual_backprop --method grad_cam --out drive.mp4",
    "explain": "pilotlens explain --model donkey --method grad_cam --target steering:0.05 images/*.jpg --out explained/",
    "grid": "pilotlens grid --model pilotnet --model donkey --method visual_backprop frame_1.png frame_2.png --out grid.png",
    "layers": "pilotlens layers --model pilotnet",
    "train": "pilotlens train --arch pilotnet --input mytub/ --epochs 20 --out mypilot.pt",
    "evaluate": "pilotlens evaluate --model pilotnet --input synthetic --method visual_backprop --method grad_cam --out report/",
}


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _key_values(items: list[str] | None, what: str) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"pilotlens: {what} must look like KEY=VALUE, got {item!r}")
        out[key] = _literal(value)
    return out


def _method_options(items: list[str] | None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for key, value in _key_values(items, "--set").items():
        method, dot, option = key.partition(".")
        if not dot:
            raise SystemExit(f"pilotlens: --set takes METHOD.OPTION=VALUE (e.g. occlusion.window=20), got {key!r}")
        out.setdefault(method, {})[option] = value
    return out


def load_pilot(spec: str):
    """A pilot file, a shipped pilot's name, or a zoo architecture name (untrained, for inspection)."""
    from .models import zoo
    from .models.pilot import Pilot, shipped_pilots
    if Path(spec).exists() or spec in shipped_pilots() or spec not in zoo.ARCHITECTURES:
        return Pilot.load(spec)
    print(f"pilotlens: {spec!r} is an architecture, not a trained pilot: using untrained weights", file=sys.stderr)
    return Pilot.from_arch(spec)


def _source(args):
    from .data import open_source
    return open_source(args.input, start=args.start, end=args.end, step=args.step, strict=args.strict,
                       **_key_values(args.input_option, "--input-option"))


def _look(args):
    from .pipeline import Look
    return Look(view=args.view, colormap=args.colormap, alpha=args.alpha, scale=args.scale)


# -- verbs -------------------------------------------------------------------------------------
def cmd_movie(args) -> None:
    from .pipeline import movie
    summary = movie(load_pilot(args.model), _source(args), args.out, args.method or ["visual_backprop"],
                    layer=args.layer, target=args.target, options=_method_options(args.set), look=_look(args),
                    batch_size=args.batch_size, fps=args.fps, progress=not args.quiet)
    print(summary)


def _image_frames(paths: list[str], strict: bool):
    from .data import open_source
    for path in paths:
        yield from open_source(path, strict=strict)


def cmd_explain(args) -> None:
    from .figures import explain_to_pngs
    written = explain_to_pngs(load_pilot(args.model), list(_image_frames(args.images, args.strict)), args.out,
                              args.method or ["visual_backprop"], layer=args.layer, target=args.target,
                              options=_method_options(args.set), look=_look(args), batch_size=args.batch_size)
    print(f"wrote {len(written)} images to {args.out}")


def cmd_grid(args) -> None:
    from .figures import grid_figure
    from .render import save_image
    pilots = {Path(m).stem: load_pilot(m) for m in args.model}
    image = grid_figure(pilots, list(_image_frames(args.images, args.strict)), args.method or ["visual_backprop"],
                        layer=args.layer, target=args.target, options=_method_options(args.set), look=_look(args))
    save_image(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")


def cmd_layers(args) -> None:
    from .layers import format_layers, trace
    pilot = load_pilot(args.model)
    w, h = pilot.input_size
    channels = 1 if pilot.color == "gray" else 3
    print(pilot.describe())
    print(format_layers(trace(pilot.model, (channels, h, w))))


def cmd_demo(args) -> None:
    from .demo import run_demo
    run_demo(args.out, frames=args.frames, model=args.model, progress=not args.quiet)


def cmd_train(args) -> None:
    from .train import train
    result = train(args.arch or load_pilot(args.model), _source(args), epochs=args.epochs, batch_size=args.batch_size,
                   lr=args.lr, val_fraction=args.val_fraction, seed=args.seed, augment=not args.no_augment,
                   out=args.out, progress=not args.quiet)
    print(result)


def cmd_evaluate(args) -> None:
    from .evaluate import evaluate_source
    evaluate_source(load_pilot(args.model), _source(args), methods=args.method or None, metrics=args.metric or None,
                    out_dir=args.out, seed=args.seed, batch_size=args.batch_size, progress=not args.quiet)


# -- parser ------------------------------------------------------------------------------------
def _verb(sub, name: str, help_: str, fn):
    p = sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {EXAMPLES[name]}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=fn)
    return p


def _add_model(p, required=True):
    p.add_argument("--model", required=required, metavar="PILOT",
                   help="a pilot file (.pt), a shipped pilot's name (pilotnet, donkey) or a zoo architecture name")


def _add_input(p):
    p.add_argument("--input", required=True, metavar="SOURCE",
                   help="an image folder or file, a video (mp4/avi/mov/webm), a donkeycar tub, a Udacity "
                        "driving_log.csv, a SullyChen data.txt, or 'synthetic' for the built-in world")
    p.add_argument("--input-option", action="append", metavar="KEY=VALUE",
                   help="an option of the source, repeatable: camera=left (Udacity); seed=3, frames=500, "
                        "size=(160,120), obstacles=True (synthetic)")
    p.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    p.add_argument("--end", type=int, default=None, help="stop before this frame index (default: the end)")
    p.add_argument("--step", type=int, default=1, help="take every STEP-th frame (default 1)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable frame (default: report and skip it)")


def _add_explain(p, several_methods=True):
    p.add_argument("--method", action="append", metavar="NAME",
                   help="an explanation method, repeatable (default visual_backprop); see `pilotlens methods`")
    p.add_argument("--layer", default=None, help="layer for layer methods (grad_cam, activation, ...): a name from "
                   "`pilotlens layers`, default the last convolution")
    p.add_argument("--target", default=None, help="what to explain: an output name (angle, throttle), an index, "
                   "steering[:THRESHOLD] (right/left/keep-centre evidence), left, right, centre, sum, class[:N]")
    p.add_argument("--set", action="append", metavar="METHOD.OPTION=VALUE",
                   help="a method option, repeatable: occlusion.window=20, grad_cam.signed=True, smoothgrad.samples=10")


def _add_look(p):
    from .render import COLORMAPS, VIEWS
    p.add_argument("--view", default="overlay", choices=sorted(VIEWS),
                   help="how a map is drawn: overlay (heat map), saliency (map over a dimmed frame), focus (sharp "
                        "where salient, blurred elsewhere), mask (strongest activations in colour); default overlay")
    p.add_argument("--colormap", default="inferno", choices=sorted(COLORMAPS), help="colour map (default inferno)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity, 0..1 (default 0.5)")
    p.add_argument("--scale", type=int, default=1, help="enlarge every panel by this factor (default 1)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pilotlens", description="See what a driving network looks at when it decides.",
                                     epilog="start with:  pilotlens demo", formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = _verb(sub, "demo", "render a synthetic drive, explain it with a shipped pilot, write demo.mp4 and demo-grid.png", cmd_demo)
    p.add_argument("--out", default="pilotlens-demo", help="output folder (default ./pilotlens-demo)")
    p.add_argument("--frames", type=int, default=200, help="frames to render (default 200, 10 s at 20 fps)")
    p.add_argument("--model", default="pilotnet", help="shipped pilot to explain (default pilotnet)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _verb(sub, "movie", "explain every frame of a drive and write a video (mp4, gif, avi, webm) or a PNG folder", cmd_movie)
    _add_model(p)
    _add_input(p)
    p.add_argument("--out", required=True, help="output: .mp4 (H.264, plays in browsers), .gif, .avi, .webm, or a folder/")
    _add_explain(p)
    _add_look(p)
    p.add_argument("--batch-size", type=int, default=32, help="frames per model call (default 32)")
    p.add_argument("--fps", type=float, default=None, help="frames per second (default: the source's, else 20)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _verb(sub, "explain", "explain images: one PNG per input with each method side by side", cmd_explain)
    _add_model(p)
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    p.add_argument("--batch-size", type=int, default=32, help="images per model call (default 32)")
    _add_explain(p)
    _add_look(p)

    p = _verb(sub, "grid", "a PNG grid: rows are inputs, columns are methods (or models, with several --model)", cmd_grid)
    p.add_argument("--model", action="append", required=True, metavar="PILOT", help="a pilot; repeat to compare models")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output .png")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    _add_explain(p)
    _add_look(p)

    p = _verb(sub, "layers", "list a pilot's layers with their output shapes, to pick one for --layer", cmd_layers)
    _add_model(p)

    p = _verb(sub, "train", "train a zoo pilot on driving data and save the best checkpoint as a pilot file", cmd_train)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--arch", help="a zoo architecture: pilotnet, donkey_linear, donkey_categorical, long_range")
    group.add_argument("--model", help="a pilot file or shipped pilot to fine-tune")
    _add_input(p)
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training frames (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of frames held out for validation (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, shuffling and augmentation (default 0)")
    p.add_argument("--no-augment", action="store_true", help="no brightness or flip augmentation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _verb(sub, "evaluate", "score methods: faithfulness, sanity, localisation and robustness, as CSV/Markdown/plots", cmd_evaluate)
    _add_model(p)
    _add_input(p)
    p.add_argument("--method", action="append", metavar="NAME", help="a method to score, repeatable (default: all that apply)")
    p.add_argument("--metric", action="append", metavar="NAME", help="a metric, repeatable (default: all)")
    p.add_argument("--out", required=True, help="output folder for the tables, plots and example frames")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--batch-size", type=int, default=16, help="default 16")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("methods", help="list the explanation methods and their options", description="list the methods")
    p.set_defaults(fn=cmd_methods)
    return parser


def cmd_methods(args) -> None:
    from .methods import REGISTRY
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        opts = ", ".join(f"{k}={v!r}" for k, v in cls.defaults.items()) or "no options"
        print(f"{name:22s} {'layer, ' if cls.uses_layer else ''}{opts}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
        args.fn(args)
    except KeyboardInterrupt:
        print("pilotlens: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        if os.environ.get("PILOTLENS_DEBUG"):
            raise
        print(f"pilotlens {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
