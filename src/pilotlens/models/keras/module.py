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

from ..donkey_bins import donkey_soft_unbin, donkey_unbin
from .config import GRAPH_FORMAT, GRAPH_VERSION
from .layers import build_layer

#: donkeycar's categorical pilot: angle_out (15 bins) and throttle_out (20 bins), both softmax
DONKEY_CATEGORICAL_OUTPUTS = ("angle_out", "throttle_out")
#: donkeycar's linear pilot: Dense(1) heads n_outputs0 (angle), n_outputs1 (throttle)
DONKEY_LINEAR_OUTPUTS = ("n_outputs0", "n_outputs1")


def _module_name(name: str) -> str:
    return name.replace(".", "_")


def _units(graph: dict, name: str) -> int | None:
    """The width of layer `name` when it is a Dense layer (else None: unknown without running)."""
    spec = next((s for s in graph["layers"] if s["name"] == name), None)
    return spec.get("units") if spec is not None and spec["type"] == "dense" else None


def donkeycar_kind(graph: dict) -> str | None:
    """"categorical" (Dense heads angle_out and throttle_out), "linear" (Dense(1) heads n_outputs0,
    n_outputs1, ...) or None: donkeycar's own output names say which pilot it is."""
    outs = tuple(graph.get("outputs", ()))
    if outs == DONKEY_CATEGORICAL_OUTPUTS and all(_units(graph, o) for o in outs):
        return "categorical"
    if outs[:2] == DONKEY_LINEAR_OUTPUTS and all(_units(graph, o) == 1 for o in outs):
        return "linear"
    return None


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
        # every plain attribute first: a layer named like one of them is then caught as a clash below
        self.graph = copy.deepcopy(graph)
        self.throttle_range = float(throttle_range)
        self._input = graph["input"]["name"]
        self._outputs = tuple(graph["outputs"])
        self._plan: list[tuple[str, str, tuple[str, ...]]] = []  # (keras name, module name, inputs)
        h, w, c = graph["input"]["shape"]
        self.in_channels = c
        self.input_size = (w, h) if w is not None and h is not None else None
        self.kind = donkeycar_kind(graph)
        self.output_names: tuple[str, ...] = ()
        for spec in graph["layers"]:
            mod_name = _module_name(spec["name"])
            if hasattr(self, mod_name):
                raise ValueError(f"layer name {spec['name']!r} clashes with another layer or a module attribute")
            self.add_module(mod_name, build_layer(spec))
            self._plan.append((spec["name"], mod_name, tuple(spec["inputs"])))
        self.output_names = self._names()

    # -- what the outputs mean ------------------------------------------------------------------
    def _units(self, name: str) -> int | None:
        return _units(self.graph, name)

    def _widths(self) -> list[int]:
        """The number of columns of each output, from one zero input (the weights do not matter)."""
        if self.input_size is None:
            raise ValueError(f"the model's outputs {list(self._outputs)} are not all Dense layers and its input size is "
                             "free: name the output columns yourself (Pilot outputs=...)")
        w, h = self.input_size
        training = self.training
        try:
            self.eval()
            with torch.no_grad():
                outs = self(torch.zeros(1, self.in_channels, h, w))
        finally:
            self.train(training)
        outs = outs if isinstance(outs, tuple) else (outs,)
        return [int(o[0].numel()) for o in outs]

    def _names(self) -> tuple[str, ...]:
        if self.kind == "categorical":
            return ("angle", "throttle")
        if self.kind == "linear":
            return ("angle", "throttle") + tuple(self._outputs[2:])
        if len(self._outputs) == 1:
            return self._outputs  # one name for all its columns
        units = [self._units(o) for o in self._outputs]
        if any(u is None for u in units):
            units = self._widths()
        names: list[str] = []
        for o, u in zip(self._outputs, units):
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

    def decode_soft(self, output: torch.Tensor) -> torch.Tensor:
        """The expected [angle, throttle] under the two softmax heads (differentiable: what targets explain)."""
        return donkey_soft_unbin(output, self._units(self._outputs[0]), self.throttle_range, probabilities=True)


def keras_module(graph: dict, throttle_range: float = 0.5) -> KerasModel:
    """The module for a layer graph: KerasCategoricalPilot for donkeycar's categorical outputs, else KerasModel."""
    cls = KerasCategoricalPilot if donkeycar_kind(graph) == "categorical" else KerasModel
    return cls(graph, throttle_range=throttle_range)
