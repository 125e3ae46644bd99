"""One way to name a model, for every verb and the library: `open_pilot(spec)`.

spec is a pilot file (.pt, written by Pilot.save, `pilotlens train` or `pilotlens import`), a Keras
model file (.h5, .hdf5, .keras: converted to a torch module, nothing in it is executed), your own
PyTorch class "mynet.py:MyNet" (with `weights=`), the name of a pilot shipped with pilotlens
("pilotnet", "donkey"), or a zoo architecture name ("donkey_linear", ...: untrained weights, for
inspecting layers).
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import zoo
from .external import open_external
from .pilot import Pilot, shipped_pilots


def open_pilot(spec: str | Path, *, device: str = "cpu", quiet: bool = False, **options) -> Pilot:
    """The Pilot that `spec` names (see the module docstring), on `device`. `options` are how an
    outside model sees and loads (models/external.py: weights, crop, myconfig, lambdas, ...)."""
    text = str(spec)
    external = open_external(text, **options)
    if external is not None:
        return external.to(device)
    if options:
        raise ValueError(f"{', '.join(sorted(options))}: for Keras files and FILE.py:Class models, not {text}")
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError(f"{text}: a folder, not a model file; give a pilot file (.pt), a shipped pilot's name "
                         f"({', '.join(shipped_pilots())}) or a zoo architecture ({', '.join(zoo.ARCHITECTURES)})")
    if path.is_file() or text in shipped_pilots() or text not in zoo.ARCHITECTURES:
        return Pilot.load(path if path.is_file() else text, device=device)
    if not quiet:
        print(f"pilotlens: {text!r} is an architecture, not a trained pilot: using untrained weights", file=sys.stderr)
    return Pilot.from_arch(text).to(device)
