"""The converted model: a plain nn.Module built from an ONNX layer graph, one submodule per ONNX node.

Submodule names are the ONNX node names with "." replaced by "_" (torch forbids dots), made unique:
`model.node_modules` maps each ONNX node name to its submodule, and `find_layer(model, "/conv1/Conv")`
reads that node's output. A Conv whose padding torch cannot express (asymmetric pads, auto_pad SAME) is a
small wrapper whose `.conv` is the plain nn.Conv2d; a MatMul + bias Add is one nn.Linear named after the MatMul.

The module always takes B x C x H x W. A model exported channels-last (its input B x H x W x C) gets its
input permuted to B x H x W x C before the first node, so its own Transpose then runs as in the file.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .graph import GRAPH_FORMAT, GRAPH_VERSION
from .ops import build_layer


class OnnxModel(nn.Module):
    """An ONNX graph as torch. Attributes: `graph` (plain data), `node_modules`, `in_channels`, `input_size`
    (w, h) when the file fixes it, `layout` ("nchw" or "nhwc": the file's input), `output_names`."""

    def __init__(self, graph: dict):
        super().__init__()
        if not isinstance(graph, dict) or graph.get("format") != GRAPH_FORMAT:
            raise ValueError("not a pilotlens ONNX layer graph")
        if graph.get("version", 0) > GRAPH_VERSION:
            raise ValueError(f"ONNX layer graph version {graph['version']} is newer than this pilotlens reads")
        self.graph = copy.deepcopy(graph)
        self.node_modules = dict(graph["node_modules"])
        self.layout = graph["input"]["layout"]
        c, h, w = graph["input"]["shape"]
        self.in_channels = c
        self.input_size = (w, h) if w and h else None
        self._input = graph["input"]["name"]
        self._outputs = tuple(graph["outputs"])
        self._plan: list[tuple[str, tuple[str, ...], str]] = []
        for spec in graph["layers"]:
            if hasattr(self, spec["name"]):
                raise ValueError(f"ONNX node name {spec['name']!r} clashes with a module attribute")
            self.add_module(spec["name"], build_layer(spec))
            self._plan.append((spec["name"], tuple(spec["inputs"]), spec["output"]))
        self.output_names = self._outputs

    def forward(self, x: torch.Tensor):
        values = {self._input: x.permute(0, 2, 3, 1) if self.layout == "nhwc" else x}
        for name, inputs, output in self._plan:
            values[output] = self._modules[name](*(values[i] for i in inputs))
        outs = tuple(values[o] for o in self._outputs)
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self) -> str:
        c, h, w = self.graph["input"]["shape"]
        given = "B x H x W x C in the file" if self.layout == "nhwc" else "as in the file"
        return f"onnx input B x {c} x {h} x {w} ({given}), outputs {list(self._outputs)}"


def _core(module: nn.Module) -> str:
    """Where a layer keeps its weights: the plain layer inside a padding/transposing wrapper."""
    for child in ("conv", "linear"):
        if isinstance(getattr(module, child, None), nn.Module):
            return child + "."
    return ""


def onnx_module(graph: dict, arrays: dict | None = None) -> OnnxModel:
    """The module for a layer graph, in eval mode, with `arrays` ({(layer, tensor): array}) as its weights."""
    model = OnnxModel(graph)
    if arrays:
        state = model.state_dict()
        for (layer, key), value in arrays.items():
            full = f"{layer}.{_core(model._modules[layer])}{key}"
            if full not in state or tuple(state[full].shape) != value.shape:
                have = tuple(state[full].shape) if full in state else "nothing"
                raise ValueError(f"ONNX node {layer!r}: its {key} has shape {value.shape}, the layer holds {have}")
            state[full] = torch.from_numpy(value).to(state[full].dtype)
        model.load_state_dict(state)
    return model.eval()
