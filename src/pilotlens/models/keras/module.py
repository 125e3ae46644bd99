"""The converted model: a plain nn.Module built from a Keras layer graph, its submodules named as in Keras.

`model.conv2d_5` is Keras's layer "conv2d_5": `find_layer(model, "conv2d_5")` and `--layer conv2d_5`
read the Keras layer's output (for a Conv2D with an activation, the output after it, as Keras's
`model.get_layer("conv2d_5").output`); `conv2d_5.conv` is the convolution alone (what "the last conv"
picks by default) and `conv2d_5.act` its activation module.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..zoo import donkey_unbin
from .config import GRAPH_FORMAT, GRAPH_VERSION
from .layers import build_layer

#: donkeycar's categorical pilot: angle_out (15 bins) and throttle_out (20 bins), both softmax
DONKEY_CATEGORICAL_OUTPUTS = ("angle_out", "throttle_out")
#: donkeycar's linear pilot: Dense(1) heads n_outputs0 (angle), n_outputs1 (throttle)
DONKEY_LINEAR_OUTPUTS = ("n_outputs0", "n_outputs1")


def _module_name(name: str) -> str:
    return name.replace(".", "_")


class KerasModel(nn.Module):
    """A Keras model as torch: input B x C x H x W, output the Keras output (a tuple for several).

    graph: the plain-data layer graph (`config.parse_config`, with shapes filled from the weights).
    throttle_range: for a donkeycar categorical pilot, the range its throttle bins cover (donkeycar's
    MODEL_CATEGORICAL_MAX_THROTTLE_RANGE, default 0.5).
    Attributes: `output_names`, `input_size` (w, h) when the graph fixes it, `graph`, and for a
    donkeycar categorical pilot (KerasCategoricalPilot) `decode(output)`.
    """

    def __init__(self, graph: dict, throttle_range: float = 0.5):
        super().__init__()
        if not isinstance(graph, dict) or graph.get("format") != GRAPH_FORMAT:
            raise ValueError("not a pilotlens Keras layer graph")
        if graph.get("version", 0) > GRAPH_VERSION:
            raise ValueError(f"Keras layer graph version {graph['version']} is newer than this pilotlens reads")
        self.graph = copy.deepcopy(graph)
        self.throttle_range = float(throttle_range)
        self._input = graph["input"]["name"]
        self._plan: list[tuple[str, str, tuple[str, ...]]] = []  # (keras name, module name, inputs)
        taken = set(dict(self.named_children()))
        for spec in graph["layers"]:
            mod_name = _module_name(spec["name"])
            if mod_name in taken or hasattr(self, mod_name):
                raise ValueError(f"layer name {spec['name']!r} clashes with another layer or a module attribute")
            self.add_module(mod_name, build_layer(spec))
            taken.add(mod_name)
            self._plan.append((spec["name"], mod_name, tuple(spec["inputs"])))
        self._outputs = tuple(graph["outputs"])
        h, w, c = graph["input"]["shape"]
        self.in_channels = c
        self.input_size = (w, h) if w is not None and h is not None else None
        self.kind = self._donkeycar_kind()
        self.output_names = self._names()

    # -- what the outputs mean ------------------------------------------------------------------
    def _spec(self, name: str) -> dict:
        return next(s for s in self.graph["layers"] if s["name"] == name)

    def _units(self, name: str) -> int | None:
        spec = self._spec(name)
        return spec.get("units") if spec["type"] == "dense" else None

    def _donkeycar_kind(self) -> str | None:
        outs = self._outputs
        if outs == DONKEY_CATEGORICAL_OUTPUTS and all(self._units(o) for o in outs):
            return "categorical"
        if outs[:2] == DONKEY_LINEAR_OUTPUTS and all(self._units(o) == 1 for o in outs):
            return "linear"
        return None

    def _names(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return ("angle", "throttle")
        if self.kind == "linear":
            return ("angle", "throttle") + tuple(self._outputs[2:])
        units = [self._units(o) for o in self._outputs]
        if all(u == 1 for u in units):
            return self._outputs
        if len(self._outputs) == 1:
            return self._outputs
        names = []
        for o, u in zip(self._outputs, units):
            if u is None:
                raise ValueError(f"output {o!r} is not a Dense layer: name its columns yourself (Pilot outputs=...)")
            names += [o] if u == 1 else [f"{o}_{i}" for i in range(u)]
        return tuple(names)

    # -- running ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor):
        values = {self._input: x}
        for name, mod_name, inputs in self._plan:
            values[name] = getattr(self, mod_name)(*(values[i] for i in inputs))
        outs = tuple(values[o] for o in self._outputs)
        return outs[0] if len(outs) == 1 else outs

    def extra_repr(self) -> str:
        h, w, c = self.graph["input"]["shape"]
        return f"keras input {h}x{w}x{c} (given as B x {c} x {h} x {w}), outputs {list(self._outputs)}"


class KerasCategoricalPilot(KerasModel):
    """A donkeycar categorical pilot: outputs angle_out (angle bins) and throttle_out (throttle bins),
    both softmax probabilities as Keras gives them; `decode` unbins them as donkeycar does."""

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        """B x (15 + 20) bins -> B x 2 [angle, throttle], as donkeycar's linear_unbin does."""
        return donkey_unbin(output, self._units(self._outputs[0]), self.throttle_range)


def keras_module(graph: dict, throttle_range: float = 0.5) -> KerasModel:
    """The module for a layer graph: KerasCategoricalPilot for donkeycar's categorical outputs, else KerasModel."""
    outputs = tuple(graph.get("outputs", ()))
    cls = KerasCategoricalPilot if outputs == DONKEY_CATEGORICAL_OUTPUTS else KerasModel
    return cls(graph, throttle_range=throttle_range)
