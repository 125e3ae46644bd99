"""Models from outside pilotlens, named on the command line: Keras files and the user's own classes.

    open_external("mypilot.h5", crop=..., myconfig=..., lambdas=...)      -> Pilot (keras_pilot)
    open_external("mynet.py:MyNet", weights="state.pth", **pilot_settings) -> Pilot (user_pilot)
    open_external("pilotnet")                                             -> None (not external)

`add_model_arguments(parser)` adds --weights, --crop, --myconfig and --lambda to a verb that takes
--model; `model_options(args)` turns them back into keyword arguments for open_external.
"""
from __future__ import annotations

import argparse

from .keras import is_keras_file, keras_pilot
from .keras.verb import add_keras_arguments, keras_options
from .pilot import Pilot
from .user_code import is_user_class, user_pilot


def is_external(spec) -> bool:
    """True for a Keras file name (.h5, .hdf5, .keras) or a FILE.py:Class spec."""
    return is_keras_file(spec) or is_user_class(spec)


def open_external(spec: str, *, weights=None, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot | None:
    """A Pilot for a Keras file or a FILE.py:Class spec; None for any other spec (a pilot file, a
    shipped pilot, a zoo architecture: open_pilot's own business). Options that do not apply to the
    kind of model named are an error rather than silently ignored."""
    if is_keras_file(spec):
        if weights is not None:
            raise ValueError(f"--weights is for FILE.py:Class models; the Keras file {spec} holds its own weights")
        return keras_pilot(spec, crop=crop, myconfig=myconfig, lambdas=lambdas, **pilot_settings)
    if is_user_class(spec):
        if myconfig is not None or lambdas:
            raise ValueError(f"--myconfig and --lambda are for Keras files, not {spec}")
        if crop is not None:
            pilot_settings["crop"] = crop
        return user_pilot(spec, weights, **pilot_settings)
    return None


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--weights (for FILE.py:Class) and --crop / --myconfig / --lambda (how a Keras model sees)."""
    parser.add_argument("--weights", metavar="PATH", help="weights for --model FILE.py:Class: a state_dict or a "
                        "pilot file (loaded with weights_only=True)")
    add_keras_arguments(parser)


def model_options(args) -> dict:
    """open_external's keyword arguments from a verb's parsed --weights/--crop/--myconfig/--lambda."""
    options = keras_options(args)
    if getattr(args, "weights", None):
        options["weights"] = args.weights
    return options
