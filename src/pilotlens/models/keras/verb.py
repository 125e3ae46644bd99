"""`pilotlens import`: a Keras file -> a pilotlens pilot file (loads with torch.load(weights_only=True))."""
from __future__ import annotations

import argparse

from ...outputs import check_output_file
from ..pilot import Pilot
from .pilot import keras_pilot

EXAMPLE = "pilotlens import mypilot.h5 --out mypilot.pt --myconfig ~/mycar/myconfig.py"


def import_keras(src, out, **options) -> Pilot:
    """Convert the Keras file `src` (options as keras_pilot: crop, myconfig, lambdas, Pilot settings)
    and write it as the pilot file `out` (atomically). Returns the pilot."""
    out = check_output_file(out, inputs=[src], suffixes=(".pt",), what="pilot file")
    pilot = keras_pilot(src, **options)
    pilot.save(out)
    return pilot


def parse_crop(text: str) -> tuple[int, int, int, int]:
    """'T,B,L,R' -> (top, bottom, left, right) pixels."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"--crop takes TOP,BOTTOM,LEFT,RIGHT in pixels (e.g. 40,0,0,0), got {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def parse_lambdas(items: list[str] | None) -> dict[str, dict[str, float]] | None:
    """['lambda_1=0.00784313725,-1'] -> {'lambda_1': {'scale': 0.00784313725, 'offset': -1.0}}."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, rest = item.partition("=")
        numbers = rest.split(",")
        try:
            scale, offset = (float(v) for v in numbers)
        except ValueError:
            scale = offset = None
        if not sep or not name or scale is None:
            raise ValueError(f"--lambda takes NAME=SCALE,OFFSET (the layer computes x*SCALE+OFFSET, e.g. "
                             f"lambda=0.0078431373,-1 for x/127.5-1), got {item!r}")
        out[name] = {"scale": scale, "offset": offset}
    return out


def keras_options(args) -> dict:
    """The keras_pilot options a verb's parsed arguments give (--crop, --myconfig, --lambda)."""
    options = {}
    if getattr(args, "crop", None):
        options["crop"] = parse_crop(args.crop)
    if getattr(args, "myconfig", None):
        options["myconfig"] = args.myconfig
    lambdas = parse_lambdas(getattr(args, "keras_lambda", None))
    if lambdas:
        options["lambdas"] = lambdas
    return options


def add_keras_arguments(parser: argparse.ArgumentParser) -> None:
    """--crop, --myconfig, --lambda: how a Keras model sees (for `import` and every verb taking --model)."""
    parser.add_argument("--crop", metavar="T,B,L,R", help="pixels cut from the frame's top, bottom, left, right "
                        "before the model sees it (default: as donkeycar did, from --myconfig; else none)")
    parser.add_argument("--myconfig", metavar="PATH", help="a donkeycar myconfig.py, read (never run) for IMAGE_W/H, "
                        "ROI_CROP_*, TRANSFORMATIONS and MODEL_CATEGORICAL_MAX_THROTTLE_RANGE")
    parser.add_argument("--lambda", dest="keras_lambda", action="append", metavar="NAME=SCALE,OFFSET",
                        help="what a Keras Lambda layer computes, as x*SCALE+OFFSET (its code is never run); repeatable")


def cmd_import(args) -> None:
    pilot = import_keras(args.src, args.out, **keras_options(args))
    print(f"wrote {args.out}: {pilot.describe()}")


def add_verb(sub) -> None:
    """The `pilotlens import` sub-command."""
    p = sub.add_parser("import", help="convert a Keras .h5/.keras pilot into a pilotlens pilot file (.pt)",
                       description="convert a Keras .h5/.keras model (donkeycar's pilots and others) into a pilotlens "
                                   "pilot file; nothing in the Keras file is executed",
                       epilog=f"example:\n  {EXAMPLE}\n  pilotlens import pilotnet.h5 --lambda lambda=0.0078431373,-1 --out pilotnet.pt",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="the Keras model file (.h5 or .keras)")
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    add_keras_arguments(p)
    p.set_defaults(fn=cmd_import)
