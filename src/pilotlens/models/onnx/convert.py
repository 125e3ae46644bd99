"""ONNX file -> torch module: read (files.py), turn into a layer graph (graph.py), build (module.py)."""
from __future__ import annotations

from .files import MAX_FILE_BYTES, read_onnx
from .graph import to_layer_graph
from .module import OnnxModel, onnx_module


def load_onnx_model(path, *, layout: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> OnnxModel:
    """The ONNX file at `path` as a plain nn.Module in eval mode, its submodules named after the ONNX nodes.

    layout: "nchw" or "nhwc" for the file's input (guessed from its shape and a leading Transpose when
    None); the module always takes B x C x H x W. Nothing in the file is executed.
    """
    model = read_onnx(path, max_bytes=max_bytes)
    graph, arrays = to_layer_graph(model, path, layout)
    return onnx_module(graph, arrays)
