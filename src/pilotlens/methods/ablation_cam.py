"""Ablation-CAM (Desai & Ramaswamy 2020): the weight of channel k is the relative drop of the score when the
layer's channel k is set to zero, w_k = (S - S_k) / |S| (|S|: a negative steering score keeps the sign of
the drop); raw = ReLU(sum_k w_k A_k) upsampled (`signed=True` keeps the sign). The ablated activations of
every image and channel go through the rest of the model `batch_size` at a time; the target is frozen on
the clean output. (pytorch-grad-cam's AblationLayer writes min(A) - 1e7 instead of 0 when A has no zero,
for layers read before their ReLU; the paper and this method zero the channel.)"""
from __future__ import annotations

import torch

from ..targets import score
from .base import Explainer, register, upsample
from .cam_template import safe_divide


@register
class AblationCAM(Explainer):
    name = "ablation_cam"
    costly = True   # many forward or backward passes per image
    uses_layer = True
    defaults = {"batch_size": 64, "signed": False}
    signed_option = "signed"

    def check_options(self):
        if int(self.options["batch_size"]) < 1:
            raise ValueError("ablation_cam: batch_size must be >= 1")

    def attribute(self, x, target, hooks):
        act, output = self.capture_layer(x, hooks, with_grad=False)
        B, C = act.shape[:2]
        plan: list[torch.Tensor] = []
        hooks.forward(self.layer, lambda _m, _i, _out: plan[0] if plan else None)
        with torch.no_grad():
            fixed = self.fixed_target(target, output)
            clean = score(fixed, output)
            drop = torch.zeros(B * C, dtype=x.dtype, device=x.device)
            step = int(self.options["batch_size"])
            for start in range(0, B * C, step):
                jobs = torch.arange(start, min(start + step, B * C), device=x.device)
                rows, channels = jobs // C, jobs % C
                ablated = act[rows].clone()
                ablated[torch.arange(len(jobs), device=x.device), channels] = 0
                plan[:] = [ablated]
                drop[jobs] = clean[rows] - score(fixed.select(rows), self.forward(x[rows]))
            plan.clear()
            weights = safe_divide(drop.view(B, C), clean.abs().view(B, 1))
            cam = (weights[:, :, None, None] * act).sum(dim=1)
            if not self.is_signed():
                cam = cam.clamp(min=0)
        return upsample(cam, tuple(x.shape[-2:])), output
