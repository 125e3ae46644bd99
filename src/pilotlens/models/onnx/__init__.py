"""ONNX files as native torch modules (parsed with the `onnx` package; onnxruntime is never used, and
nothing in a file is executed).

    load_onnx_model(path, layout=None) -> OnnxModel (an nn.Module with the ONNX node names)
    models.onnx.pilot.onnx_pilot(path, layout=None, **pilot_settings) -> Pilot (the Pilot side lives there:
        this package converts files and knows nothing of Pilots, so the zoo can rebuild a saved one)
    is_onnx_file(spec) -> bool
    onnx_module(graph, arrays=None): rebuild a converted model from its plain layer graph (a saved pilot)
"""
from pathlib import Path

from .convert import load_onnx_model
from .files import MAX_FILE_BYTES, MAX_TENSOR_VALUES
from .graph import SUPPORTED
from .module import OnnxModel, onnx_module

ONNX_SUFFIXES = (".onnx",)


def is_onnx_file(spec) -> bool:
    """True when `spec` names an ONNX model file by its suffix (.onnx)."""
    return Path(str(spec)).suffix.lower() in ONNX_SUFFIXES


__all__ = ["MAX_FILE_BYTES", "MAX_TENSOR_VALUES", "ONNX_SUFFIXES", "OnnxModel", "SUPPORTED",
           "is_onnx_file", "load_onnx_model", "onnx_module"]
