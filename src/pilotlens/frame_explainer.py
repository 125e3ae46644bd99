"""Explain batches of Frames through a pilot with several methods: maps on the frames' own pixels.

The one place where frames meet explainers: the pilot prepares the frames, the pilot resolves the
target (`Pilot.resolve_target`), each method explains the batch, and the maps go back onto the frames
(`Pilot.to_frame`). Signed methods give maps in [-1, 1] (`Saliency.shown`), the others [0, 1].
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .data.frame import Frame
from .methods.spec import MethodSpec, parse_methods
from .models.pilot import Pilot
from .saliency import NonFiniteWarning

log = logging.getLogger("pilotlens")


@dataclass
class Explained:
    """One batch explained: `maps[label]` B x H x W on the frames, `predictions[output]` length-B
    arrays, `signed[label]`, the `target` every method explained, the frame indices whose input or
    output was not finite (their maps are zeros), and `layers[label]`, the layer each method read."""

    maps: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]
    signed: dict[str, bool]
    target: str
    nonfinite: list[int] = field(default_factory=list)
    layers: dict[str, str | None] = field(default_factory=dict)

    def prediction(self, i: int) -> dict[str, float]:
        """Image i's predictions as numbers (the first value of an output that spans several columns)."""
        return {k: float(np.ravel(v[i])[0]) for k, v in self.predictions.items()}

    def maps_of(self, i: int) -> dict[str, np.ndarray]:
        return {label: m[i] for label, m in self.maps.items()}


class FrameExplainer:
    """`FrameExplainer(pilot, ["visual_backprop", "grad_cam:signed=true"])(frames) -> Explained`.

    methods: method specs (see methods/spec.py); layer: the layer for layer methods that name none;
    target: anything `Pilot.resolve_target` takes; options: {method name: {option: value}}.
    """

    def __init__(self, pilot: Pilot, methods: Sequence[str | MethodSpec], layer=None, target=None,
                 options: Mapping[str, Mapping[str, Any]] | None = None):
        self.pilot = pilot
        self.specs = parse_methods(methods, options, layer)
        self.target = pilot.resolve_target(target)
        self.explainers = {s.label: s.build(pilot.model) for s in self.specs}

    def __call__(self, frames: Sequence[Frame]) -> Explained:
        x = self.pilot.prepare(frames)
        shape = frames[0].image.shape
        maps, signed, layers, output, label, bad = {}, {}, {}, None, repr(self.target), set()
        for name, ex in self.explainers.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonFiniteWarning)   # reported below, by frame index
                sal = ex(x, self.target)
            maps[name] = self.pilot.to_frame(sal.shown(), shape)
            signed[name] = sal.signed
            layers[name] = sal.layer
            output, label = sal.output, sal.target
            bad.update(sal.nonfinite)
        if output is None:
            with torch.no_grad():
                output = self.pilot.forward(x)
        indices = sorted(frames[i].index for i in bad)
        if indices:
            log.warning("frames %s: the input or the model's output is not finite (NaN or inf); their maps are blank",
                        indices)
        return Explained(maps, self.pilot.named(output), signed, label, indices, layers)

    def close(self) -> None:
        for ex in self.explainers.values():
            ex.close()

    def __enter__(self) -> "FrameExplainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
