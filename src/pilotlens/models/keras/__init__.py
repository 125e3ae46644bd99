"""Keras `.h5` / `.keras` files as native torch modules (read with h5py; Keras is never imported).

    load_keras_model(path, lambdas=None) -> nn.Module with the Keras layer names
    keras_pilot(path, crop=None, myconfig=None, lambdas=None, **pilot_settings) -> Pilot
    import_keras(src, out, **options) -> Pilot (and writes a pilotlens pilot file)
"""
from .config import KerasConfigError, parse_config
from .convert import load_keras_model
from .files import read_keras_file
from .module import KerasCategoricalPilot, KerasModel, keras_module

__all__ = ["KerasCategoricalPilot", "KerasConfigError", "KerasModel", "keras_module", "load_keras_model",
           "parse_config", "read_keras_file"]
