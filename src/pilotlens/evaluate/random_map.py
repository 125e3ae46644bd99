"""The `random` pseudo-method: seeded uniform random maps, the baseline row of every report.

A map drawn independently of the model and of the image tells what a metric gives when the map
carries no information: a method should beat it by a clear margin. Each call draws fresh maps from
the explainer's own generator (seeded once), so a run is reproducible and two calls (a perturbed
frame, a randomised model) get independent maps, as an uninformative map would.
"""
from __future__ import annotations

import torch

from ..methods.base import Explainer


def random_maps(shape: tuple[int, int, int], generator: torch.Generator, device=None) -> torch.Tensor:
    """B x H x W maps, each pixel uniform in [0, 1), drawn on the CPU from `generator` (same numbers on any device)."""
    return torch.rand(tuple(int(s) for s in shape), generator=generator).to(device or "cpu")


class RandomMap(Explainer):
    """Uniform random maps with the usual explainer interface: `RandomMap(model, seed=0)(x) -> Saliency`.

    Not in the global method registry (it explains nothing); `pilotlens.evaluate` knows it by the name
    "random".
    """

    name = "random"
    defaults = {"seed": 0}

    def check_options(self):
        self.generator = torch.Generator().manual_seed(int(self.options["seed"]))

    def attribute(self, x, target, hooks):
        with torch.no_grad():
            output = self.forward(x)
        return random_maps((x.shape[0], *x.shape[2:]), self.generator, x.device), output
