"""SmoothGrad (Smilkov et al. 2017): the mean of |gradient| over noisy copies of the input, then max
over channels. `noise` is the noise's standard deviation as a fraction of each image's value range.
The noise of sample k depends only on `seed` and k (every image of a batch gets the same pattern,
scaled to its range), so an image's map does not depend on the batch it came in."""
from __future__ import annotations

import torch

from .base import Explainer, register


@register
class SmoothGrad(Explainer):
    name = "smoothgrad"
    costly = True   # many forward or backward passes per image
    defaults = {"samples": 25, "noise": 0.15, "seed": 0}

    def check_options(self):
        if int(self.options["samples"]) < 1:
            raise ValueError("smoothgrad: samples must be >= 1")
        if float(self.options["noise"]) < 0:
            raise ValueError("smoothgrad: noise must be >= 0")

    def attribute(self, x, target, hooks):
        gen = torch.Generator(device=x.device).manual_seed(int(self.options["seed"]))
        flat = x.reshape(x.shape[0], -1)
        sigma = (flat.max(dim=1).values - flat.min(dim=1).values).view(-1, 1, 1, 1) * float(self.options["noise"])
        output = self.forward(x)
        fixed = self.fixed_target(target, output)
        total = torch.zeros_like(x)
        for _ in range(int(self.options["samples"])):
            noisy = x + sigma * torch.randn((1, *x.shape[1:]), generator=gen, device=x.device, dtype=x.dtype)
            grad, _, _ = self.input_gradient(noisy, target, fixed)
            total += grad.abs()
        return (total / int(self.options["samples"])).amax(dim=1), output.detach()
