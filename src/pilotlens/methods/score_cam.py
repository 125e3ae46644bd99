"""Score-CAM (Wang et al. 2020) and its smoothed variants SS-CAM (Wang et al. 2020b) and IS-CAM (Naidu et al. 2020),
with torchcam's conventions so that the maps can be checked against it.

Each channel k of the layer, min-max normalised over space ((A - min) / (max - min + 1e-8)) and upsampled
bilinearly, masks the input: x_k = M_k * x. Its weight is the softmax over channels of the score's rise
S(x_k) - S(x), with the target frozen on the clean output; raw = ReLU(sum_k w_k A_k), upsampled.
- ss_cam averages the rise over `samples` masks M_k + N(0, noise^2) (noise drawn at input resolution; sample s
  uses the same noise for every image, so an image's map does not depend on its batch).
- is_cam averages it over `samples` scaled masks c_s M_k * x with c_s = sum_{j<=s} j / samples (torchcam's
  integration path).
The masked inputs of every image and channel go through the model `batch_size` at a time; a flat channel
(a dead ReLU's: its mask and masked image are all zero) costs one shared pass of the zero image.
"""
from __future__ import annotations

import torch

from ..targets import score
from .base import Explainer, register, upsample
from .cam_template import minmax


@register
class ScoreCAM(Explainer):
    name = "score_cam"
    costly = True   # many forward or backward passes per image
    uses_layer = True
    defaults = {"batch_size": 64}

    def check_options(self):
        if int(self.options["batch_size"]) < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1")

    def variants(self, x: torch.Tensor, channels: int):
        """One (scale, noise C x H x W or None) per sample of the masks."""
        return [(1.0, None)]

    def attribute(self, x, target, hooks):
        act, output = self.capture_layer(x, hooks, with_grad=False)
        B, C = act.shape[:2]
        size = tuple(x.shape[-2:])
        with torch.no_grad():
            fixed = self.fixed_target(target, output)
            clean = score(fixed, output)
            masks = minmax(act, (2, 3)).reshape(B * C, *act.shape[2:])
            variants = self.variants(x, C)
            rise = torch.zeros(B * C, dtype=x.dtype, device=x.device)
            todo = torch.arange(B * C, device=x.device)
            if all(noise is None for _, noise in variants):
                # a flat channel's mask is all zero and so is its masked image, whatever the image: one pass for all
                flat = masks.flatten(1).amax(dim=1) == 0
                if flat.any():
                    dead, rows = todo[flat], todo[flat] // C
                    zero_out = self.forward(torch.zeros_like(x[:1])).expand(len(dead), -1)
                    rise[dead] = len(variants) * (score(fixed.select(rows), zero_out) - clean[rows])
                    todo = todo[~flat]
            step = int(self.options["batch_size"])
            for start in range(0, len(todo), step):
                jobs = todo[start:start + step]
                rows, channels = jobs // C, jobs % C
                up = upsample(masks[jobs], size)
                images, chunk_target = x[rows], fixed.select(rows)
                for scale, noise in variants:
                    m = up if noise is None else up + noise[channels]
                    masked = images * m.unsqueeze(1)
                    if scale != 1.0:
                        masked = masked * scale
                    rise[jobs] += score(chunk_target, self.forward(masked)) - clean[rows]
            weights = torch.softmax((rise / len(variants)).view(B, C), dim=1)
            cam = (weights[:, :, None, None] * act).sum(dim=1).clamp(min=0)
        return upsample(cam, size), output


class _Sampled(ScoreCAM):
    def check_options(self):
        super().check_options()
        if int(self.options["samples"]) < 1:
            raise ValueError(f"{self.name}: samples must be >= 1")


@register
class SSCAM(_Sampled):
    name = "ss_cam"
    defaults = {"batch_size": 64, "samples": 10, "noise": 2.0, "seed": 0}

    def check_options(self):
        super().check_options()
        if float(self.options["noise"]) < 0:
            raise ValueError("ss_cam: noise must be >= 0")

    def variants(self, x, channels):
        gen = torch.Generator(device=x.device).manual_seed(int(self.options["seed"]))
        std = float(self.options["noise"])
        shape = (channels, *x.shape[-2:])
        return [(1.0, std * torch.randn(shape, generator=gen, device=x.device, dtype=x.dtype))
                for _ in range(int(self.options["samples"]))]


@register
class ISCAM(_Sampled):
    name = "is_cam"
    defaults = {"batch_size": 64, "samples": 10}

    def variants(self, x, channels):
        n = int(self.options["samples"])
        scales, total = [], 0.0
        for s in range(1, n + 1):
            total += s / n
            scales.append((total, None))
        return scales
