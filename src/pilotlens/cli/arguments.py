"""The argument groups every verb shares, declared once, and what they become for the library.

    add_model(p)      --model with --weights, --crop, --myconfig, --lambda,  -> open_model(args)
                      --size, --color, --pixel-scale, --pixel-offset, --normalize
    add_input(p)      --input, --input-option, --start/--end/--step/--strict -> open_input(args)
    add_explain(p)    --method, --layer, --target, --set                     -> explain_options(args)
    add_look(p)       --view, --colormap, --alpha, --scale, --clip           -> look(args)

The functions on the right turn the parsed Namespace into plain keyword arguments (or the object
they open): the Namespace never leaves cli/. Typed text becomes values by `pilotlens.text`'s rules.
"""
from __future__ import annotations

import argparse
import sys

from ..text import grouped, key_values

MODEL_HELP = ("a pilot file (.pt), a Keras model (.h5, .keras), an ONNX model (.onnx), your own class FILE.py:Class "
              "(with --weights), a Keras JSON architecture (with --weights), a shipped pilot's name (pilotnet, donkey) "
              "or a zoo architecture name (with --weights: a Keras weights file onto it)")
INPUT_HELP = ("an image folder or file, a video (mp4/avi/mov/webm), a donkeycar tub, a Udacity driving_log.csv, "
              "a SullyChen data.txt, or 'synthetic' for the built-in world")
LIVE_INPUT_HELP = ("a drive (image folder, video, donkeycar tub, Udacity csv, SullyChen data.txt, 'synthetic'), "
                   "or live: camera:N (an OpenCV device index) or a stream URL (rtsp://, http://...)")


def verb(sub, name: str, help_: str, example: str, run, description: str | None = None) -> argparse.ArgumentParser:
    """A verb's sub-parser: its help, its example(s) under --help, and the function that runs it."""
    p = sub.add_parser(name, help=help_, description=description or help_, epilog=f"example:\n  {example}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=run)
    return p


# -- the model -------------------------------------------------------------------------------------
def add_model(p, *, required: bool = True, several: bool = False, default: str | None = None, into=None) -> None:
    """--model (into `into`, e.g. a mutually exclusive group, when given) and how it loads and sees."""
    help_ = MODEL_HELP + ("; repeat to compare models" if several else "")
    if default is not None:
        help_ += f" (default {default})"
    (into or p).add_argument("--model", required=required, metavar="PILOT", default=default,
                             action="append" if several else None, help=help_)
    add_model_options(p)


def add_model_options(p, *, weights: bool = True) -> None:
    """--weights (for an architecture), --crop / --myconfig / --lambda (how a Keras model sees) and how
    any model from outside sees (--size, --color, --pixel-scale, --pixel-offset, --normalize)."""
    if weights:
        p.add_argument("--weights", metavar="PATH", help="weights for an architecture: for FILE.py:Class a state_dict "
                       "or a pilot file (loaded with weights_only=True); for FILE.py:Class, a zoo name or a Keras "
                       "JSON file, a Keras weights file (.h5, from model.save_weights)")
    p.add_argument("--crop", metavar="T,B,L,R", help="pixels cut from the frame's top, bottom, left, right "
                   "before the model sees it (default: as donkeycar did, from --myconfig; else none)")
    p.add_argument("--myconfig", metavar="PATH", help="a donkeycar myconfig.py, read (never run) for IMAGE_W/H, "
                   "ROI_CROP_*, TRANSFORMATIONS and MODEL_CATEGORICAL_MAX_THROTTLE_RANGE")
    p.add_argument("--lambda", dest="keras_lambda", action="append", metavar="NAME=SCALE,OFFSET",
                   help="what a Keras Lambda layer computes, as x*SCALE+OFFSET (its code is never run); repeatable")
    add_seeing_options(p)


#: --normalize NAME: mean and std in scaled units (models/seeing.py)
NORMALIZE_CHOICES = ("imagenet", "none")


def add_seeing_options(p) -> None:
    """How a model from outside sees, where its file or class does not say (or says wrong). The pixel
    scaling flags are --pixel-scale/--pixel-offset because --scale is the look's panel enlargement."""
    from ..models.color import COLORS
    p.add_argument("--size", metavar="WxH", help="the model's input size, width x height in pixels (e.g. 200x66): "
                   "frames are resized to it (default: from the model file or class)")
    p.add_argument("--color", choices=tuple(COLORS), help="the colour space the model was trained on "
                   "(default: from the model file or class; else rgb)")
    p.add_argument("--pixel-scale", type=float, metavar="S", help="the model's input is pixels (0..255) * S + O "
                   "(with --pixel-offset O; e.g. 0.0039215686 for pixels / 255)")
    p.add_argument("--pixel-offset", type=float, metavar="O", help="added after --pixel-scale (e.g. -1 with "
                   "--pixel-scale 0.0078431373 for pixels / 127.5 - 1)")
    p.add_argument("--normalize", choices=NORMALIZE_CHOICES, help="then subtract a mean and divide by a std per "
                   "channel: imagenet (torchvision's, on pixels / 255), or none")


def parse_crop(text: str) -> tuple[int, int, int, int]:
    """"40,0,0,0" -> (40, 0, 0, 0): pixels cut from the top, bottom, left and right."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(p.lstrip("-").isdigit() for p in parts):
        raise ValueError(f"--crop takes TOP,BOTTOM,LEFT,RIGHT in pixels (e.g. 40,0,0,0), got {text!r}")
    values = tuple(int(p) for p in parts)
    negative = [f"{side} {v}" for side, v in zip(("top", "bottom", "left", "right"), values) if v < 0]
    if negative:
        raise ValueError(f"--crop cuts pixels away and cannot be negative: {', '.join(negative)} (got {text!r})")
    return values  # type: ignore[return-value]


#: options whose value may begin with a minus and hold commas ("-5,0,0,0"), which argparse takes for an option
SIGNED_LIST_OPTIONS = ("--crop",)


def join_signed_values(argv: list[str]) -> list[str]:
    """["--crop", "-5,0,0,0"] -> ["--crop=-5,0,0,0"], so that the value reaches parse_crop (and its clear
    message) instead of argparse's 'expected one argument'."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in SIGNED_LIST_OPTIONS and i + 1 < len(argv) and argv[i + 1][:1] == "-" and "," in argv[i + 1]:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _scale_offset(text: str) -> dict[str, float]:
    scale, offset = (float(v) for v in text.split(","))
    return {"scale": scale, "offset": offset}


def parse_lambdas(items: list[str] | None) -> dict[str, dict[str, float]] | None:
    """['lambda_1=0.00784313725,-1'] -> {'lambda_1': {'scale': 0.00784313725, 'offset': -1.0}}."""
    if not items:
        return None
    out = {}
    for item in items:
        try:
            out.update(key_values([item], "--lambda", convert=_scale_offset))
        except ValueError:
            raise ValueError(f"--lambda takes NAME=SCALE,OFFSET (the layer computes x*SCALE+OFFSET, e.g. "
                             f"lambda=0.0078431373,-1 for x/127.5-1), got {item!r}") from None
    return out


def seeing_options(args) -> dict:
    """Pilot settings from --size/--color/--pixel-scale/--pixel-offset/--normalize (only those given):
    x = pixels * S + O is scale S, mean -O, std 1; --normalize sets mean and std."""
    from ..models.seeing import NORMALIZATIONS, parse_size
    options: dict = {}
    if getattr(args, "size", None):
        try:
            options["input_size"] = parse_size(args.size)
        except ValueError:
            raise ValueError(f"--size takes WIDTHxHEIGHT in pixels (e.g. 200x66), got {args.size!r}") from None
    if getattr(args, "color", None):
        options["color"] = args.color
    if getattr(args, "pixel_scale", None) is not None:
        options["scale"] = args.pixel_scale
    offset, normalize = getattr(args, "pixel_offset", None), getattr(args, "normalize", None)
    if offset is not None and normalize is not None:
        raise ValueError("--pixel-offset and --normalize both set what is subtracted: give one of them")
    if offset is not None:
        options.update(mean=(-offset,), std=(1.0,))
    if normalize is not None:
        options["mean"], options["std"] = NORMALIZATIONS[normalize]
    return options


def model_options(args) -> dict:
    """open_pilot's keyword arguments from --weights/--crop/--myconfig/--lambda and the seeing flags
    (only those given)."""
    options = seeing_options(args)
    if getattr(args, "crop", None):
        options["crop"] = parse_crop(args.crop)
    if getattr(args, "myconfig", None):
        options["myconfig"] = args.myconfig
    lambdas = parse_lambdas(getattr(args, "keras_lambda", None))
    if lambdas:
        options["lambdas"] = lambdas
    if getattr(args, "weights", None):
        options["weights"] = args.weights
    return options


def open_model(args, spec: str | None = None):
    """The Pilot that --model (or `spec`, one of several --model) names, with the model options."""
    from ..models import open_pilot
    spec = args.model if spec is None else spec
    return open_pilot(spec, **model_options(args))


# -- the input -------------------------------------------------------------------------------------
def add_input(p, *, live: bool = False) -> None:
    """--input with its options and frame selection; `live`: the input may be a camera or a stream."""
    p.add_argument("--input", required=True, metavar="SOURCE", help=LIVE_INPUT_HELP if live else INPUT_HELP)
    p.add_argument("--input-option", action="append", metavar="KEY=VALUE",
                   help="an option of the source, repeatable: camera=left (Udacity); seed=3, frames=500, "
                        "size=(160,120), obstacles=True (synthetic)")
    p.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    p.add_argument("--end", type=int, default=None, help="stop before this frame index (default: the end)")
    p.add_argument("--step", type=int, default=1, help="take every STEP-th frame (default 1)")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable frame (default: report and skip it)")


def input_options(args) -> dict:
    """--input-option KEY=VALUE ... -> the source's own options."""
    return key_values(args.input_option, "--input-option")


def selection(args) -> dict:
    """--start/--end/--step/--strict -> open_source's selection keywords."""
    return dict(start=args.start, end=args.end, step=args.step, strict=args.strict)


def open_input(args):
    """The Source that --input names, with its options and selection."""
    from ..data import open_source
    return open_source(args.input, **selection(args), **input_options(args))


def image_frames(paths: list[str], strict: bool):
    """The frames of image files and folders given as positional arguments, one after the other."""
    from ..data import open_source
    for path in paths:
        yield from open_source(path, strict=strict)


# -- explaining ------------------------------------------------------------------------------------
def add_explain(p, method_help: str = "an explanation method, repeatable (default visual_backprop)") -> None:
    p.add_argument("--method", action="append", metavar="NAME[:OPTION=VALUE,...]",
                   help=method_help + "; options may follow a colon, e.g. grad_cam:signed=true; see `pilotlens methods`")
    p.add_argument("--layer", default=None, help="layer for layer methods (grad_cam, activation, ...): a name from "
                   "`pilotlens layers`, default the last convolution")
    p.add_argument("--target", default=None, help="what to explain: an output name (angle, throttle), an index, "
                   "steering[:THRESHOLD] (right/left/keep-centre evidence), left, right, centre, sum, class[:N]")
    p.add_argument("--set", action="append", metavar="METHOD.OPTION=VALUE",
                   help="a method option, repeatable: occlusion.window=20, grad_cam.signed=true, smoothgrad.samples=10")


def method_options(items: list[str] | None) -> dict[str, dict[str, str]]:
    """--set METHOD.OPTION=VALUE -> {method: {option: "VALUE"}}; the method converts each value to the
    option's type (methods/options.py), so "false" means False and a bad value names the option."""
    return grouped(items, "--set", "METHOD.OPTION=VALUE (e.g. occlusion.window=20)")


def explain_options(args, default=("visual_backprop",)) -> dict:
    """What every explaining verb passes on the same way: methods, layer, target, options. A method whose
    numba kernel this environment has not compiled yet is announced here, before the verb's work starts."""
    methods = list(args.method or default)
    if not getattr(args, "quiet", False):
        say_if_compiling(methods)
    return dict(methods=methods, layer=args.layer, target=args.target, options=method_options(args.set))


def say_if_compiling(methods: list[str]) -> None:
    """Print, to stderr, that numba compiles a method's kernel on this first run (VisualBackProp's scale-ups:
    about a second, once per environment), so the pause before the first frame is not a silent one."""
    from .. import compiled
    from ..methods.spec import parse_method
    try:
        kernels = {spec.name: spec.cls.compiled_kernels() for spec in map(parse_method, methods)}
    except (TypeError, ValueError):
        return   # a bad method: the verb reports it itself
    waiting = sorted(name for name, ks in kernels.items() if ks and compiled.pending(ks))
    if waiting:
        print(f"pilotlens: numba compiles {', '.join(waiting)}'s kernels on this first run in the environment "
              "(about a second, once; cached for the next runs)", file=sys.stderr, flush=True)


# -- the look --------------------------------------------------------------------------------------
def add_look(p) -> None:
    from ..render import COLORMAPS, VIEWS
    p.add_argument("--view", default="overlay", choices=sorted(VIEWS),
                   help="how a map is drawn: overlay (heat map), saliency (map over a dimmed frame), focus (sharp "
                        "where salient, blurred elsewhere), mask (strongest activations in colour); default overlay")
    p.add_argument("--colormap", default="inferno", choices=sorted(COLORMAPS), help="colour map (default inferno)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity, 0..1 (default 0.5)")
    p.add_argument("--scale", type=float, default=None,
                   help="enlarge every panel by this factor (default: enough for readable text, at least 320 px wide)")
    p.add_argument("--clip", type=float, default=None, metavar="PCT",
                   help="the percentile of |map| drawn at full colour, so a few extreme pixels do not leave the rest "
                        "faint (default 98, as captum's visualiser; 100: the map's peak)")


def look(args):
    """The Look that --view/--colormap/--alpha/--scale/--clip describe."""
    from ..render.look import Look
    clip = {} if args.clip is None else {"clip": args.clip}   # the default is decided once, in render/scale.py
    return Look(view=args.view, colormap=args.colormap, alpha=args.alpha, scale=args.scale, **clip)


# -- the engine (batch, evaluate) ------------------------------------------------------------------
def add_engine(p, what: str) -> None:
    """--engine local|ray and the Ray pool; `what`: what runs on the actors with --engine ray."""
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help=f"local: this process, no Ray (default); ray: {what}")
    p.add_argument("--ray-address", default=None, help="an existing Ray cluster (e.g. ray://head:10001 or auto); "
                   "default: start a local one on loopback")
    p.add_argument("--actors", type=int, default=None, help="actors in the pool (default: the cluster's CPUs, one "
                   "left for reading and writing, divided by --threads-per-actor)")
    p.add_argument("--threads-per-actor", type=int, default=1, help="torch threads (and CPUs) per actor (default 1)")


def engine_options(args) -> dict:
    """engine, ray_address, actors, threads_per_actor, checked (the Ray options need --engine ray)."""
    from ..fleet.run import check_engine
    check_engine(args.engine, args.ray_address, args.actors, args.threads_per_actor)
    return dict(engine=args.engine, ray_address=args.ray_address, actors=args.actors,
                threads_per_actor=args.threads_per_actor)
