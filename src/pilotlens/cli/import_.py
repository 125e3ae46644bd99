"""`pilotlens import`: a Keras file -> a pilotlens pilot file (loads with torch.load(weights_only=True))."""
from __future__ import annotations

from .arguments import add_model_options, model_options, verb

EXAMPLE = ("pilotlens import mypilot.h5 --out mypilot.pt --myconfig ~/mycar/myconfig.py\n"
           "  pilotlens import pilotnet.h5 --lambda lambda=0.0078431373,-1 --out pilotnet.pt")


def register(sub) -> None:
    p = verb(sub, "import", "convert a Keras .h5/.keras pilot into a pilotlens pilot file (.pt)", EXAMPLE, run,
             description="convert a Keras .h5/.keras model (donkeycar's pilots and others) into a pilotlens "
                         "pilot file; nothing in the Keras file is executed")
    p.add_argument("src", help="the Keras model file (.h5 or .keras)")
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    add_model_options(p, weights=False)     # a Keras file holds its own weights


def run(args) -> None:
    from ..models.keras.verb import import_keras
    pilot = import_keras(args.src, args.out, **model_options(args))
    print(f"wrote {args.out}: {pilot.describe()}")
