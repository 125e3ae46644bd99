"""`pilotlens ...`: thin verbs over the library. Every verb's --help has an example."""
from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path

from .allocator import keep_freed_memory

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
    """A source option's value: a Python literal when it reads as one ("3", "(160,120)", "True"), else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _key_values(items: list[str] | None, what: str, convert=_literal) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must look like KEY=VALUE, got {item!r}")
        out[key.strip()] = convert(value)
    return out


def _method_options(items: list[str] | None) -> dict[str, dict]:
    """--set METHOD.OPTION=VALUE -> {method: {option: "VALUE"}}; the method converts each value to the
    option's type (methods/options.py), so "false" means False and a bad value names the option."""
    out: dict[str, dict] = {}
    for key, value in _key_values(items, "--set", convert=str).items():
        method, dot, option = key.partition(".")
        if not dot or not option:
            raise ValueError(f"--set takes METHOD.OPTION=VALUE (e.g. occlusion.window=20), got {key!r}")
        out.setdefault(method, {})[option] = value
    return out


def load_pilot(spec: str, args=None):
    """--model (with --weights/--crop/--myconfig/--lambda when `args` has them): see models/open.py."""
    from .models import open_pilot
    from .models.external import model_options
    return open_pilot(spec, **(model_options(args) if args is not None else {}))


def _source(args):
    from .data import open_source
    return open_source(args.input, start=args.start, end=args.end, step=args.step, strict=args.strict,
                       **_key_values(args.input_option, "--input-option"))


def _look(args):
    from .render.look import Look
    return Look(view=args.view, colormap=args.colormap, alpha=args.alpha, scale=args.scale)


def _explain_args(args) -> dict:
    """What every explaining verb passes on the same way: methods, layer, target, options."""
    return dict(methods=args.method or ["visual_backprop"], layer=args.layer, target=args.target,
                options=_method_options(args.set))


# -- verbs -------------------------------------------------------------------------------------
def cmd_movie(args) -> None:
    from .pipeline import check_movie_output, movie
    source = _source(args)
    check_movie_output(args.out, source)
    summary = movie(load_pilot(args.model, args), source, args.out, **_explain_args(args), look=_look(args),
                    batch_size=args.batch_size, fps=args.fps, progress=not args.quiet)
    print(summary)


def _image_frames(paths: list[str], strict: bool):
    from .data import open_source
    for path in paths:
        yield from open_source(path, strict=strict)


def cmd_explain(args) -> None:
    from .figures import explain_to_pngs
    from .outputs import check_output_dir
    check_output_dir(args.out, inputs=args.images)
    written = explain_to_pngs(load_pilot(args.model, args), _image_frames(args.images, args.strict), args.out,
                              **_explain_args(args), look=_look(args), batch_size=args.batch_size, inputs=args.images)
    print(f"wrote {len(written)} images to {args.out}")


def _model_labels(specs: list[str]) -> list[str]:
    """Column labels for several --model: file stems, or the whole spec where two stems are alike."""
    stems = [Path(m).stem for m in specs]
    labels = [stem if stems.count(stem) == 1 else spec for stem, spec in zip(stems, specs)]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise ValueError(f"--model {', '.join(repeated)} is given twice")
    return labels


def cmd_grid(args) -> None:
    from .figures import grid_figure
    from .outputs import check_output_file
    from .render import save_image
    from .render.panels import IMAGE_SUFFIXES
    check_output_file(args.out, inputs=args.images, suffixes=IMAGE_SUFFIXES, what="grid image")
    pilots = {label: load_pilot(m, args) for label, m in zip(_model_labels(args.model), args.model)}
    image = grid_figure(pilots, list(_image_frames(args.images, args.strict)), **_explain_args(args), look=_look(args))
    save_image(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")


def cmd_layers(args) -> None:
    from .layers import format_layers, trace
    from .models import color
    pilot = load_pilot(args.model, args)
    w, h = pilot.input_size
    print(pilot.describe())
    print(format_layers(trace(pilot.model, (color.channels(pilot.color), h, w))))


def cmd_demo(args) -> None:
    from .demo import run_demo
    run_demo(args.out, frames=args.frames, model=args.model, progress=not args.quiet)


def cmd_train(args) -> None:
    from .outputs import check_output_file
    from .train import train
    check_output_file(args.out, inputs=[args.input] + ([args.model] if args.model else []), suffixes=(".pt",),
                      what="pilot file")
    result = train(args.arch or load_pilot(args.model, args), _source(args), epochs=args.epochs, batch_size=args.batch_size,
                   lr=args.lr, val_fraction=args.val_fraction, seed=args.seed, augment=not args.no_augment,
                   out=args.out, progress=not args.quiet, sparsity=args.sparsity)
    print(result)


def cmd_evaluate(args) -> None:
    from .evaluate import evaluate_source
    from .outputs import check_output_dir
    from .evaluate.options import evaluate_arguments
    check_output_dir(args.out, inputs=[args.input])
    evaluate_source(load_pilot(args.model, args), _source(args), methods=args.method or None, out_dir=args.out,
                    seed=args.seed, progress=not args.quiet, target=args.target, layer=args.layer,
                    method_options=_method_options(args.set), **evaluate_arguments(args))


# -- parser ------------------------------------------------------------------------------------
def _verb(sub, name: str, help_: str, fn):
    p = sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {EXAMPLES[name]}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=fn)
    return p


MODEL_HELP = ("a pilot file (.pt), a Keras model (.h5, .keras), your own class FILE.py:Class (with --weights), "
              "a shipped pilot's name (pilotnet, donkey) or a zoo architecture name")


def _add_model(p, required=True, several=False):
    from .models.external import add_model_arguments
    p.add_argument("--model", required=required, metavar="PILOT", action="append" if several else None,
                   help=MODEL_HELP + ("; repeat to compare models" if several else ""))
    add_model_arguments(p)


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


def _add_explain(p, method_help="an explanation method, repeatable (default visual_backprop)"):
    p.add_argument("--method", action="append", metavar="NAME[:OPTION=VALUE,...]",
                   help=method_help + "; options may follow a colon, e.g. grad_cam:signed=true; see `pilotlens methods`")
    p.add_argument("--layer", default=None, help="layer for layer methods (grad_cam, activation, ...): a name from "
                   "`pilotlens layers`, default the last convolution")
    p.add_argument("--target", default=None, help="what to explain: an output name (angle, throttle), an index, "
                   "steering[:THRESHOLD] (right/left/keep-centre evidence), left, right, centre, sum, class[:N]")
    p.add_argument("--set", action="append", metavar="METHOD.OPTION=VALUE",
                   help="a method option, repeatable: occlusion.window=20, grad_cam.signed=true, smoothgrad.samples=10")


def _add_look(p):
    from .render import COLORMAPS, VIEWS
    p.add_argument("--view", default="overlay", choices=sorted(VIEWS),
                   help="how a map is drawn: overlay (heat map), saliency (map over a dimmed frame), focus (sharp "
                        "where salient, blurred elsewhere), mask (strongest activations in colour); default overlay")
    p.add_argument("--colormap", default="inferno", choices=sorted(COLORMAPS), help="colour map (default inferno)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity, 0..1 (default 0.5)")
    p.add_argument("--scale", type=float, default=None,
                   help="enlarge every panel by this factor (default: enough for readable text, at least 320 px wide)")


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
    _add_model(p, several=True)
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
    group.add_argument("--model", help="a pilot to fine-tune: " + MODEL_HELP)
    _add_input(p)
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training frames (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of frames held out for validation (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, shuffling and augmentation (default 0)")
    p.add_argument("--no-augment", action="store_true", help="no brightness or flip augmentation")
    p.add_argument("--sparsity", type=float, default=0.0,
                   help="L1 penalty on the first conv layer's rectified output: edge-like features, maps that "
                        "follow the road (the shipped pilotnet: 0.3, donkey: 0.05; default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _verb(sub, "evaluate", "score methods: faithfulness, sanity, localisation and robustness, as CSV/Markdown/plots", cmd_evaluate)
    _add_model(p)
    _add_input(p)
    _add_explain(p, "a method to score, repeatable (default: all that apply; the random baseline is always added)")
    from .evaluate.options import add_evaluate_options
    add_evaluate_options(p)
    p.add_argument("--out", required=True, help="output folder for the tables, plots and example frames")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    from .models.keras import add_verb as add_import_verb
    add_import_verb(sub)
    from .view import add_verb as add_view_verb
    add_view_verb(sub)
    from .drive import add_verb as add_drive_verb
    add_drive_verb(sub)

    p = sub.add_parser("methods", help="list the explanation methods and their options", description="list the methods")
    p.set_defaults(fn=cmd_methods)
    return parser


def cmd_methods(args) -> None:
    from .methods import REGISTRY
    from .methods.options import describe_options
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        signed = "signed, " if cls.signed else f"signed with {cls.signed_option}=true, " if cls.signed_option else ""
        kind = ("layer, " if cls.uses_layer else "") + signed + ("costly, " if cls.costly else "")
        print(f"{name:22s} {kind}{describe_options(cls.defaults, cls.option_types)}")


def main(argv: list[str] | None = None) -> int:
    from .outputs import Terminated, cleanup_on_terminate, remove_all_partials
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    keep_freed_memory()  # steadier, faster batches on glibc; PILOTLENS_KEEP_MEMORY=0 turns it off
    try:
        with cleanup_on_terminate():
            args.fn(args)
    except (KeyboardInterrupt, Terminated) as stop:
        remove_all_partials()
        print("pilotlens: interrupted; no partial output was kept", file=sys.stderr)
        return 130 if isinstance(stop, KeyboardInterrupt) else 143
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        remove_all_partials()
        if os.environ.get("PILOTLENS_DEBUG"):
            raise
        print(f"pilotlens {args.verb}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    """An error's message: OSError's own text with its path; any other message as it was written (a
    few carry a table on the lines after their first, e.g. the layers a bad layer index can take)."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc).strip() or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
