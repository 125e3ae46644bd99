"""`pilotlens import`: a model from outside (Keras, ONNX, weights onto an architecture) -> a pilotlens
pilot file (loads with torch.load(weights_only=True)), how it sees included."""
from __future__ import annotations

import sys

from .arguments import add_model_options, model_options, verb

EXAMPLE = ("pilotlens import mypilot.h5 --out mypilot.pt --myconfig ~/mycar/myconfig.py\n"
           "  pilotlens import pilotnet.h5 --lambda lambda=0.0078431373,-1 --out pilotnet.pt\n"
           "  pilotlens import net.onnx --out net.pt\n"
           "  pilotlens import pilotnet --weights nvidia.h5 --color yuv --out nvidia.pt")


def register(sub) -> None:
    p = verb(sub, "import", "convert a Keras or ONNX model into a pilotlens pilot file (.pt)", EXAMPLE, run,
             description="convert a Keras .h5/.keras model (Keras 1, 2 or 3; donkeycar's pilots and others), an ONNX "
                         "model, or a Keras weights file onto an architecture (--weights) into a pilotlens pilot file "
                         "that keeps how the model sees (--size, --color, --pixel-scale, --crop, ...); nothing in "
                         "the files is executed")
    p.add_argument("src", help="the model: a Keras file (.h5, .keras), an ONNX file (.onnx), or an architecture "
                               "with --weights (a zoo name, a Keras JSON file, FILE.py:Class)")
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    add_model_options(p)


def run(args) -> None:
    from ..models.open import import_model
    pilot = import_model(args.src, args.out, **model_options(args))
    print(f"wrote {args.out}: {pilot.describe()}")
    report = getattr(pilot, "weights_report", None)
    if report is not None:
        print(report)
    if pilot.arch is None:   # a user's class: the file holds its weights and settings, not its code
        print(f"{args.out} holds the weights of {args.src}, not its code: use it as --model {args.src} "
              f"--weights {args.out}, with the same --size/--color/--pixel-scale flags", file=sys.stderr)
