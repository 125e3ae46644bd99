"""The one door from a model spec to a Pilot, for every verb and the library: `open_pilot(spec)`.

    open_pilot("mypilot.pt")                       a pilot file (Pilot.save, `pilotlens train`, `pilotlens import`)
    open_pilot("pilotnet")                         a pilot shipped with pilotlens ("pilotnet", "donkey")
    open_pilot("donkey_linear")                    a zoo architecture: untrained weights, for inspecting layers
    open_pilot("mypilot.h5", myconfig=..., crop=...)   a Keras file (.h5, .hdf5, .keras; Keras 1, 2, 3)
    open_pilot("net.onnx")                         an ONNX file
    open_pilot("mynet.py:MyNet", weights="w.pth")  your own PyTorch class, its weights a state_dict (.pth, .pt)
    open_pilot("pilotnet", weights="nvidia.h5")    a weights-only Keras file onto a zoo architecture,
    open_pilot("mynet.py:MyNet", weights="w.h5")   ... onto your own class,
    open_pilot("arch.json", weights="w.h5")        ... or onto a Keras JSON architecture (model.to_json())

Nothing in a Keras, ONNX or JSON file is executed, and torch files load with weights_only=True.
Options are keyword arguments (the command line turns its flags into them): how the model loads
(weights, crop, myconfig, lambdas, layout, model_kwargs) and how it sees (any Pilot setting:
input_size, color, scale, mean, std, outputs, ...), a setting given winning over what the file or the
class says. An option that does not apply to the kind of model named is an error, never silently
ignored. A model opened from outside pilotlens is run once on a zero image of its input size, so that
a wrong size or colour space is said here, naming the setting that fixes it.

Adding a kind of model: a new format is one `Door` in `DOORS` (how to tell it, how to open it).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import color as colors
from . import zoo
from .keras import is_keras_file
from .keras.pilot import keras_pilot
from .onnx import is_onnx_file
from .onnx.pilot import onnx_pilot
from .pilot import Pilot
from .pilot_file import shipped_pilots
from .user_code import is_user_class, split_spec, user_pilot
from .weights_onto import is_keras_weights, weights_pilot


@dataclass(frozen=True)
class Door:
    """One kind of model from outside pilotlens: `knows(spec)` tells it by its name, `open(spec,
    **options)` makes the Pilot (and refuses the options that do not apply)."""
    kind: str
    knows: Callable[[str], bool]
    open: Callable[..., Pilot]


def _refuse(spec: str, what: str, **given) -> None:
    """A ValueError when any of `given` (option name -> value) is set: they do not apply to `spec`."""
    names = sorted({OPTION_FLAGS.get(k, k) for k, v in given.items() if v})
    if names:
        raise ValueError(f"{', '.join(names)}: not for {spec} ({what})")


#: option -> the command-line flag that gives it, for errors (a library caller knows both names)
OPTION_FLAGS = {"weights": "--weights", "myconfig": "--myconfig", "lambdas": "--lambda", "crop": "--crop",
                "input_size": "--size", "color": "--color", "scale": "--pixel-scale",
                "mean": "--pixel-offset/--normalize", "std": "--pixel-offset/--normalize"}


def _open_keras(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot:
    if weights is not None:
        raise ValueError(f"--weights is for an architecture (a zoo name, FILE.py:Class, a Keras JSON file); "
                         f"the Keras file {spec} holds its own weights")
    return keras_pilot(spec, crop=crop, myconfig=myconfig, lambdas=lambdas, **pilot_settings)


def _open_onnx(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, layout=None,
               **pilot_settings) -> Pilot:
    _refuse(spec, "an ONNX file holds its own weights and runs no Keras layers", weights=weights,
            myconfig=myconfig, lambdas=lambdas)
    if crop is not None:
        pilot_settings["crop"] = crop
    return onnx_pilot(spec, layout=layout, **pilot_settings)


def _open_keras_json(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot:
    if weights is None:
        raise ValueError(f"{spec} is an architecture without weights: give them with --weights (a Keras weights "
                         "file, from model.save_weights)")
    _refuse(spec, "a Keras JSON architecture: give --crop instead", myconfig=myconfig)
    if crop is not None:
        pilot_settings["crop"] = crop
    return weights_pilot(spec, weights, lambdas=lambdas, **pilot_settings)


def _open_user_class(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot:
    _refuse(spec, "a PyTorch class; --myconfig and --lambda are for Keras files", myconfig=myconfig, lambdas=lambdas)
    if crop is not None:
        pilot_settings["crop"] = crop
    if weights is not None and is_keras_weights(weights):   # HDF5 by content: a Keras weights file
        return weights_pilot(spec, weights, **pilot_settings)
    return user_pilot(spec, weights, **pilot_settings)


def is_keras_json(spec) -> bool:
    """True when `spec` names a Keras JSON architecture file (model.to_json()) by its suffix."""
    return Path(str(spec)).suffix.lower() == ".json"


#: the formats from outside pilotlens, tried in order
DOORS = (Door("ONNX file", is_onnx_file, _open_onnx),
         Door("Keras file", is_keras_file, _open_keras),
         Door("Keras JSON architecture", is_keras_json, _open_keras_json),
         Door("FILE.py:Class", is_user_class, _open_user_class))


def is_external(spec) -> bool:
    """True for a spec one of the DOORS knows: an ONNX or Keras file name, a Keras JSON file, FILE.py:Class."""
    return any(door.knows(str(spec)) for door in DOORS)


def open_external(spec: str, **options) -> Pilot | None:
    """A Pilot for a spec one of the DOORS knows; None for any other spec (a pilot file, a shipped
    pilot, a zoo architecture: `_open_named`'s business)."""
    door = next((d for d in DOORS if d.knows(str(spec))), None)
    return None if door is None else door.open(str(spec), **options)


def open_pilot(spec: str | Path, *, device: str = "cpu", quiet: bool = False, **options) -> Pilot:
    """The Pilot that `spec` names (see the module docstring), on `device`. `options` are how an
    outside model loads and sees (weights, crop, myconfig, lambdas, layout, model_kwargs, any Pilot
    setting)."""
    text = str(spec)
    _say_if_untrained(text, options, quiet)
    pilot = open_external(text, **options)
    if pilot is None and options.get("weights") is not None:
        pilot = _weights_onto_named(text, **options)
    if pilot is None:
        return _open_named(text, device=device, quiet=quiet, **options)
    return check_input_fits(pilot.to(device))


def _say_if_untrained(text: str, options: dict, quiet: bool) -> None:
    """FILE.py:Class without weights is legitimate (layers, inspection), but its maps explain noise:
    say so on stderr, once, before the model opens."""
    parts = split_spec(text)
    if parts is not None and options.get("weights") is None and not quiet:
        print(f"pilotlens: no --weights: explaining {parts[1]} with its initial (random) weights", file=sys.stderr)


def check_input_fits(pilot: Pilot) -> Pilot:
    """`pilot`, after one forward pass on a zero image of its input size and colour space; a model that
    rejects it raises the ValueError that names the shape and the setting to change."""
    w, h = pilot.input_size
    x = torch.zeros(1, colors.channels(pilot.color), h, w, device=pilot.device, dtype=pilot.dtype)
    with torch.no_grad():
        pilot.forward(x)
    return pilot


def _weights_onto_named(text: str, *, weights, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot:
    """A weights-only Keras file onto the zoo architecture `text` (`--model pilotnet --weights nvidia.h5`)."""
    if text not in zoo.ARCHITECTURES or Path(text).expanduser().is_file():
        raise ValueError(f"--weights is for an architecture (a zoo name: {', '.join(zoo.ARCHITECTURES)}; "
                         f"FILE.py:Class; a Keras JSON file); {text} is not one")
    _refuse(text, "a zoo architecture; --myconfig and --lambda are for Keras files", myconfig=myconfig,
            lambdas=lambdas)
    if not Path(str(weights)).is_file():
        raise FileNotFoundError(f"no weights file {weights}")
    if not is_keras_weights(weights):
        raise ValueError(f"--weights {weights}: not a Keras weights file (HDF5, from model.save_weights); weights "
                         f"for {text} trained with pilotlens come as a pilot file: --model that file")
    if crop is not None:
        pilot_settings["crop"] = crop
    return weights_pilot(text, weights, **pilot_settings)


def _open_named(text: str, *, device: str, quiet: bool, **options) -> Pilot:
    """A pilot file, a shipped pilot's name, or a zoo architecture (untrained, said on stderr)."""
    if options:
        raise ValueError(f"{', '.join(sorted({OPTION_FLAGS.get(k, k) for k in options}))}: for Keras, ONNX and JSON files, "
                         f"FILE.py:Class models and an architecture with --weights, not {text} (a pilot file carries "
                         "how it sees; `pilotlens import` writes it)")
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError(f"{text}: a folder, not a model file; give a pilot file (.pt), a shipped pilot's name "
                         f"({', '.join(shipped_pilots())}) or a zoo architecture ({', '.join(zoo.ARCHITECTURES)})")
    if path.is_file() or text in shipped_pilots() or text not in zoo.ARCHITECTURES:
        return Pilot.load(path if path.is_file() else text, device=device)
    if not quiet:
        print(f"pilotlens: {text!r} is an architecture, not a trained pilot: using untrained weights", file=sys.stderr)
    return Pilot.from_arch(text).to(device)


def import_model(src, out, **options) -> Pilot:
    """The library of `pilotlens import`: open `src` (a Keras or ONNX file, or an architecture with
    weights: see open_pilot) and write it as the pilot file `out` (atomically), how it sees included.
    Returns the pilot. A pilot file or a bare architecture has nothing to import."""
    from ..outputs import check_output_file
    text = str(src)
    if not is_external(text) and options.get("weights") is None:
        raise ValueError(f"{text}: nothing to import; `pilotlens import` converts a Keras (.h5, .keras) or ONNX "
                         "(.onnx) file, or an architecture with --weights (pilotnet, arch.json, FILE.py:Class)")
    inputs = [p for p in (text.rpartition(":")[0] if is_user_class(text) else text, options.get("weights"))
              if p is not None and Path(str(p)).is_file()]
    out = check_output_file(out, inputs=inputs, suffixes=(".pt",), what="pilot file")
    pilot = open_pilot(text, **options)
    pilot.save(out)
    return pilot
