"""Occlusion (Zeiler & Fergus 2014; several window sizes as in the steering-angle visualisations).

Windows of each size slide with a stride (the last one clipped at the edge, as captum), filled with
the baseline; raw at a pixel = mean over every window covering it of score(x) - score(x occluded).
`batch_size` occluded images go through the model at once.
"""
from __future__ import annotations

import math

import torch

from ..targets import score
from .base import Explainer, register


def _pair(v, what: str) -> tuple[int, int]:
    h, w = (v, v) if isinstance(v, int) else tuple(v)
    if int(h) < 1 or int(w) < 1:
        raise ValueError(f"occlusion: {what} must be >= 1, got {v!r}")
    return int(h), int(w)


def window_boxes(size: tuple[int, int], window: tuple[int, int], stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of every window position over an H x W image."""
    (H, W), (h, w), (sh, sw) = size, window, stride
    if h > H or w > W:
        raise ValueError(f"occlusion: window {h}x{w} is larger than the input {H}x{W}")
    ys = [i * sh for i in range(math.ceil((H - h) / sh) + 1)]
    xs = [j * sw for j in range(math.ceil((W - w) / sw) + 1)]
    return [(y, min(y + h, H), x, min(x + w, W)) for y in ys for x in xs]


@register
class Occlusion(Explainer):
    name = "occlusion"
    costly = True   # many forward or backward passes per image
    signed = True   # occluding may raise the score as well as lower it
    defaults = {"window": 15, "stride": None, "baseline": 0.0, "batch_size": 64}
    option_types = {"window": (int, tuple, list), "stride": (int, tuple, list, type(None)), "baseline": (float, torch.Tensor)}

    def check_options(self):
        windows = self.options["window"]
        many = isinstance(windows, list) or (isinstance(windows, tuple) and windows and not isinstance(windows[0], int))
        self.windows = [_pair(w, "window") for w in (windows if many else [windows])]
        stride = self.options["stride"]
        self.strides = [(_pair(stride, "stride") if stride is not None else (max(1, h // 2), max(1, w // 2)))
                        for h, w in self.windows]
        if int(self.options["batch_size"]) < 1:
            raise ValueError("occlusion: batch_size must be >= 1")

    def attribute(self, x, target, hooks):
        B, _, H, W = x.shape
        baseline = torch.as_tensor(self.options["baseline"], dtype=x.dtype, device=x.device)
        with torch.no_grad():
            output = self.forward(x)
            fixed = self.fixed_target(target, output)
            clean = score(fixed, output)
            boxes = [b for win, st in zip(self.windows, self.strides) for b in window_boxes((H, W), win, st)]
            total = torch.zeros_like(x[:, 0])
            count = torch.zeros((H, W), dtype=x.dtype, device=x.device)
            for t, b, l, r in boxes:
                count[t:b, l:r] += 1
            # each job is (image, window); run them in chunks of batch_size
            jobs = [(i, box) for i in range(B) for box in boxes]
            step = int(self.options["batch_size"])
            for start in range(0, len(jobs), step):
                chunk = jobs[start:start + step]
                images = torch.stack([x[i] for i, _ in chunk])
                masks = torch.zeros((len(chunk), 1, H, W), dtype=x.dtype, device=x.device)
                for k, (_, (t, b, l, r)) in enumerate(chunk):
                    masks[k, :, t:b, l:r] = 1
                occluded = images * (1 - masks) + baseline * masks
                rows = torch.tensor([i for i, _ in chunk], device=x.device)
                drop = clean[rows] - score(fixed.select(rows), self.forward(occluded))
                total.index_add_(0, rows, drop.view(-1, 1, 1) * masks[:, 0])
        return total / count, output

