"""Keras `.h5` / `.keras` files as native torch modules (read with h5py; Keras is never imported).

    load_keras_model(path, lambdas=None) -> nn.Module with the Keras layer names
    keras_module(graph) -> the module for a parsed layer graph (what a pilot file rebuilds)

This package is the converter only and knows nothing of Pilots, so that the pilot file can rebuild a
converted model without an import circle. A Keras file becomes a Pilot in keras/pilot.py
(`keras_pilot`, reached through models/open.py's `open_pilot`); `pilotlens import` writes it as a
pilot file (keras/verb.py: `import_keras`).
"""
from pathlib import Path

from .config import KerasConfigError, parse_config
from .convert import load_keras_model
from .files import read_keras_file
from .module import KerasCategoricalPilot, KerasModel, keras_module
from .myconfig import read_myconfig

KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def is_keras_file(spec) -> bool:
    """True when `spec` names a Keras model file by its suffix (.h5, .hdf5, .keras)."""
    return Path(str(spec)).suffix.lower() in KERAS_SUFFIXES


__all__ = ["KERAS_SUFFIXES", "KerasCategoricalPilot", "KerasConfigError", "KerasModel", "is_keras_file",
           "keras_module", "load_keras_model", "parse_config", "read_keras_file", "read_myconfig"]
