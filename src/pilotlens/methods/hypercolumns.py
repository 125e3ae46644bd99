"""Hypercolumns (as in the steering-angle visualisations): each chosen layer's channel-mean map,
min-max normalised, upsampled bilinearly to the input, and multiplied together. High where every
layer is active. `layers` defaults to every Conv2d."""
from __future__ import annotations

import torch

from ..hooks import keep_first
from ..layers import find_layers
from ..saliency import normalize
from .base import Explainer, register, upsample


@register
class Hypercolumns(Explainer):
    name = "hypercolumns"
    defaults = {"layers": None}
    option_types = {"layers": (list, tuple, str, type(None))}

    def check_options(self):
        self.chosen = find_layers(self.model, self.options["layers"], "hypercolumns")
        self.layer_name = ",".join(n for n, _ in self.chosen)

    def attribute(self, x, target, hooks):
        means: dict[int, torch.Tensor] = {}
        for k, (_, module) in enumerate(self.chosen):
            hooks.forward(module, lambda _m, _i, out, k=k: keep_first(means, k, out.mean(dim=1)))
        with torch.no_grad():
            output = self.forward(x)
        size = tuple(x.shape[-2:])
        raw = torch.ones((x.shape[0], *size), dtype=x.dtype, device=x.device)
        for k, (name, _) in enumerate(self.chosen):
            if k not in means or means[k].dim() != 3:
                raise ValueError(f"hypercolumns: layer {name!r} did not give a spatial map in the forward pass")
            raw = raw * upsample(normalize(means[k]), size)
        return raw, output
