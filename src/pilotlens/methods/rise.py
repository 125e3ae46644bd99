"""RISE (Petsiuk et al. 2018): randomised input sampling, black-box.

`masks` random masks: a `cells` x `cells` grid of cells kept with probability `p`, upsampled bilinearly to
(cells + 1) times the cell size and cropped at a random shift (section 3.2 of the paper), so the masks are
smooth. raw = sum_i S(x * M_i + baseline * (1 - M_i)) M_i / (masks * p) (eq. 6), with the target frozen on
the clean output. With `center=True` the mean masked score is taken off each S first, which gives the same
map up to a constant for a positive score and a signed one (evidence both ways) for any score. The masks
depend only on `seed` and the input size (every image of a batch gets the same ones); the masked images go
through the model `batch_size` at a time.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..targets import score
from .base import Explainer, register


def rise_masks(n: int, cells: int, p: float, size: tuple[int, int], seed: int, device=None, dtype=torch.float32):
    """n x H x W smooth random masks in [0, 1]."""
    H, W = size
    gen = torch.Generator(device=device or "cpu").manual_seed(seed)
    grid = (torch.rand((n, 1, cells, cells), generator=gen, device=device) < p).to(dtype)
    ch, cw = math.ceil(H / cells), math.ceil(W / cells)
    up = F.interpolate(grid, size=((cells + 1) * ch, (cells + 1) * cw), mode="bilinear", align_corners=False)
    dy = torch.randint(0, ch, (n,), generator=gen, device=device).tolist()
    dx = torch.randint(0, cw, (n,), generator=gen, device=device).tolist()
    masks = torch.stack([up[i, 0, y:y + H, x:x + W] for i, (y, x) in enumerate(zip(dy, dx))])
    return masks.clamp_(0, 1)  # bilinear weights of 0/1 values overshoot 1 by float rounding


def _check_size(n: int, cells: int, size: tuple[int, int], itemsize: int) -> None:
    """Refuse, naming the option, a mask count whose masks (and their upsampled grids) would not fit:
    rise.masks=1000000000 would otherwise end in an allocator message that names nothing."""
    from ..limits import check_allocation
    H, W = size
    up = (cells + 1) * math.ceil(H / cells) * (cells + 1) * math.ceil(W / cells)
    check_allocation("rise.masks", n, n * (up + 2 * H * W) * itemsize, what=f"for masks of {W}x{H}")


@register
class RISE(Explainer):
    name = "rise"
    costly = True   # many forward or backward passes per image
    defaults = {"masks": 1000, "cells": 8, "p": 0.5, "seed": 0, "batch_size": 64, "baseline": 0.0, "center": False}
    signed_option = "center"

    def check_options(self):
        o = self.options
        if int(o["masks"]) < 1 or int(o["cells"]) < 1 or int(o["batch_size"]) < 1:
            raise ValueError("rise: masks, cells and batch_size must be >= 1")
        if not 0 < float(o["p"]) <= 1:
            raise ValueError("rise: p must be in (0, 1]")

    def attribute(self, x, target, hooks):
        B, _, H, W = x.shape
        o = self.options
        n, p = int(o["masks"]), float(o["p"])
        _check_size(n, int(o["cells"]), (H, W), x.element_size())
        with torch.no_grad():
            output = self.forward(x)
            fixed = self.fixed_target(target, output)
            masks = rise_masks(n, int(o["cells"]), p, (H, W), int(o["seed"]), x.device, x.dtype)
            scores = torch.empty((B, n), dtype=x.dtype, device=x.device)
            step = int(o["batch_size"])
            for start in range(0, B * n, step):
                jobs = torch.arange(start, min(start + step, B * n), device=x.device)
                rows, which = jobs // n, jobs % n
                m = masks[which].unsqueeze(1)
                masked = x[rows] * m + float(o["baseline"]) * (1 - m)
                scores.view(-1)[jobs] = score(fixed.select(rows), self.forward(masked))
            if o["center"]:
                scores = scores - scores.mean(dim=1, keepdim=True)
            raw = (scores @ masks.view(n, -1)).view(B, H, W) / (n * p)
        return raw, output
