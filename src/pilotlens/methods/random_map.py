"""`random`: seeded uniform random maps, the baseline row of every evaluation report.

A map drawn independently of the model and of the image tells what a metric gives when the map
carries no information: a method should beat it by a clear margin. Nothing is kept between calls:
each call seeds its own generator per image from `seed`, the image and the model's weights, so a call
is repeatable, a batch gives the same maps as its images one by one, and a perturbed frame or a
randomised model gets independent maps, as an uninformative map would.
"""
from __future__ import annotations

import zlib

import torch

from .base import Explainer, register


def random_maps(shape: tuple[int, int, int], generator: torch.Generator, device=None) -> torch.Tensor:
    """B x H x W maps, each pixel uniform in [0, 1), drawn on the CPU from `generator` (same numbers on any device)."""
    return torch.rand(tuple(int(s) for s in shape), generator=generator).to(device or "cpu")


@register
class RandomMap(Explainer):
    """Uniform random maps with the usual explainer interface: `RandomMap(model, seed=0)(x) -> Saliency`."""

    name = "random"
    defaults = {"seed": 0}

    def attribute(self, x, target, hooks):
        with torch.no_grad():
            output = self.forward(x)
        weights = 0
        for p in self.model.parameters():   # another (randomised) model: other maps
            weights = zlib.crc32(p.detach().float().cpu().numpy().tobytes(), weights)
        maps = []
        for row in x.detach().float().cpu().numpy():   # float32 bytes: the same maps at any precision   # one generator per image: a batch gives each image its map alone
            digest = zlib.crc32(row.tobytes(), weights)
            generator = torch.Generator().manual_seed((int(self.options["seed"]) * 1_000_003 + digest) % (2 ** 63))
            maps.append(random_maps((1, *x.shape[2:]), generator, x.device))
        return torch.cat(maps), output
