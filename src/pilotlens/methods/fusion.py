"""Multi-layer CAM fusion: one gradient-weighted CAM per layer, combined into one map at the finest layer's
resolution, then upsampled bilinearly to the input. A deep layer knows what matters, a shallow one where:
PilotNet's last conv is 1 x 18, its first 31 x 98.

Each layer's map is the `base` method's ReLU'd map (grad_cam, grad_cam_pp, x_grad_cam, hires_cam, layer_cam),
min-max normalised per image ((m - min) / (max - min + 1e-8)), resized bilinearly to the largest layer's size
(each side the largest over the layers), and
- combine="max": LayerCAM's fusion (Jiang et al. 2021, eq. 9; torchcam's fuse_cams): for the layer_cam base
  each map is first scaled by tanh(2 m); the fused map is their element-wise maximum;
- combine="product": RefineCAM's (torchcam): the element-wise product.
`layers` defaults to every Conv2d. Unsigned.
"""
from __future__ import annotations

import torch

from ..layers import find_layers
from ..targets import score
from .base import Explainer, register, upsample
from .cam_template import minmax
from .gradient_cams import LAYER_MAPS

COMBINE = ("max", "product")


@register
class LayerFusion(Explainer):
    name = "fusion"
    defaults = {"layers": None, "base": "layer_cam", "combine": "max"}
    option_types = {"layers": (list, tuple, str, type(None))}

    def check_options(self):
        if self.options["base"] not in LAYER_MAPS:
            raise ValueError(f"fusion: unknown base {self.options['base']!r}; bases: {', '.join(LAYER_MAPS)}")
        if self.options["combine"] not in COMBINE:
            raise ValueError(f"fusion: unknown combine {self.options['combine']!r}; use {' or '.join(COMBINE)}")
        self.chosen = find_layers(self.model, self.options["layers"], "fusion")
        self.layer_name = ",".join(n for n, _ in self.chosen)

    def attribute(self, x, target, hooks):
        acts, output = self.capture_layers(x, hooks, self.chosen)
        fixed = self.fixed_target(target, output)
        grads = torch.autograd.grad(score(fixed, output).sum(), acts)
        layer_map = LAYER_MAPS[self.options["base"]]
        with torch.no_grad():
            maps = [minmax(layer_map(a.detach(), g).clamp(min=0), (1, 2)) for a, g in zip(acts, grads)]
            shape = tuple(max(m.shape[d] for m in maps) for d in (1, 2))
            if self.options["combine"] == "max":
                if self.options["base"] == "layer_cam":
                    maps = [torch.tanh(2 * m) for m in maps]
                fused = upsample(maps[0], shape)
                for m in maps[1:]:
                    fused = torch.maximum(fused, upsample(m, shape))
            else:
                fused = upsample(maps[0], shape)
                for m in maps[1:]:
                    fused = fused * upsample(m, shape)
        return upsample(fused, tuple(x.shape[-2:])), output.detach()
