"""Keras `.h5` / `.keras` files as native torch modules (read with h5py; Keras is never imported).

    load_keras_model(path, lambdas=None) -> nn.Module with the Keras layer names
    keras_pilot(path, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot
    import_keras(src, out, **options) -> Pilot (and writes a pilotlens pilot file)
    add_verb(sub): the `pilotlens import` sub-command
"""
from pathlib import Path

from .config import KerasConfigError, parse_config
from .convert import load_keras_model
from .files import read_keras_file
from .module import KerasCategoricalPilot, KerasModel, keras_module
from .myconfig import read_myconfig
from .pilot import keras_pilot
from .verb import add_keras_arguments, add_verb, import_keras, keras_options

KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def is_keras_file(spec) -> bool:
    """True when `spec` names a Keras model file by its suffix (.h5, .hdf5, .keras)."""
    return Path(str(spec)).suffix.lower() in KERAS_SUFFIXES


__all__ = ["KERAS_SUFFIXES", "KerasCategoricalPilot", "KerasConfigError", "KerasModel", "add_keras_arguments",
           "add_verb", "import_keras", "is_keras_file", "keras_module", "keras_options", "keras_pilot",
           "load_keras_model", "parse_config", "read_keras_file", "read_myconfig"]
