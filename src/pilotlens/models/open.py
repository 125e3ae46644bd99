"""The one door from a model spec to a Pilot, for every verb and the library: `open_pilot(spec)`.

    open_pilot("mypilot.pt")                       a pilot file (Pilot.save, `pilotlens train`, `pilotlens import`)
    open_pilot("pilotnet")                         a pilot shipped with pilotlens ("pilotnet", "donkey")
    open_pilot("donkey_linear")                    a zoo architecture: untrained weights, for inspecting layers
    open_pilot("mypilot.h5", myconfig=..., crop=...)   a Keras file (.h5, .hdf5, .keras): converted, nothing in it runs
    open_pilot("mynet.py:MyNet", weights="w.pth")  your own PyTorch class, its weights loaded with weights_only=True

Options are keyword arguments (the command line turns its flags into them); an option that does not
apply to the kind of model named is an error, never silently ignored.

Adding a kind of model: a new format (an ONNX file, say) is one `Door` in `DOORS` (how to tell it,
how to open it); weights onto a zoo architecture is one branch in `_open_named`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import zoo
from .keras import is_keras_file
from .keras.pilot import keras_pilot
from .pilot import Pilot
from .pilot_file import shipped_pilots
from .user_code import is_user_class, user_pilot


@dataclass(frozen=True)
class Door:
    """One kind of model from outside pilotlens: `knows(spec)` tells it by its name, `open(spec,
    **options)` makes the Pilot (and refuses the options that do not apply)."""
    kind: str
    knows: Callable[[str], bool]
    open: Callable[..., Pilot]


def _open_keras(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot:
    if weights is not None:
        raise ValueError(f"--weights is for FILE.py:Class models; the Keras file {spec} holds its own weights")
    return keras_pilot(spec, crop=crop, myconfig=myconfig, lambdas=lambdas, **pilot_settings)


def _open_user_class(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot:
    if myconfig is not None or lambdas:
        raise ValueError(f"--myconfig and --lambda are for Keras files, not {spec}")
    if crop is not None:
        pilot_settings["crop"] = crop
    return user_pilot(spec, weights, **pilot_settings)


#: the formats from outside pilotlens, tried in order; an ONNX file is one more Door here
DOORS = (Door("Keras file", is_keras_file, _open_keras),
         Door("FILE.py:Class", is_user_class, _open_user_class))


def is_external(spec) -> bool:
    """True for a spec one of the DOORS knows: a Keras file name (.h5, .hdf5, .keras), FILE.py:Class."""
    return any(door.knows(str(spec)) for door in DOORS)


def open_external(spec: str, **options) -> Pilot | None:
    """A Pilot for a spec one of the DOORS knows; None for any other spec (a pilot file, a shipped
    pilot, a zoo architecture: `_open_named`'s business)."""
    door = next((d for d in DOORS if d.knows(str(spec))), None)
    return None if door is None else door.open(str(spec), **options)


def open_pilot(spec: str | Path, *, device: str = "cpu", quiet: bool = False, **options) -> Pilot:
    """The Pilot that `spec` names (see the module docstring), on `device`. `options` are how an
    outside model sees and loads (weights, crop, myconfig, lambdas, model_kwargs, any Pilot setting)."""
    text = str(spec)
    pilot = open_external(text, **options)
    return pilot.to(device) if pilot is not None else _open_named(text, device=device, quiet=quiet, **options)


def _open_named(text: str, *, device: str, quiet: bool, **options) -> Pilot:
    """A pilot file, a shipped pilot's name, or a zoo architecture (untrained, said on stderr)."""
    if options:   # weights onto a zoo architecture would be the one branch to add here
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
