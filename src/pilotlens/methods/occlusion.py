"""Occlusion (Zeiler & Fergus 2014; several window sizes as in the steering-angle visualisations).

Windows of each size slide with a stride (the last one clipped at the edge, as captum), filled with
the baseline; raw at a pixel = mean over every window covering it of score(x) - score(x occluded).
Full passes run `batch_size` occluded images at once; incremental chunks hold at least that many windows
of one image (more where the patches are small, up to INCREMENTAL_BUDGET values in the largest tensor).

By default the early layers run incrementally (methods/_incremental_occlusion.py): on the patch each
window changes, spliced into the clean activations; a model it cannot read runs full passes
(`incremental=False` forces them). The scores are the same to float rounding.
"""
from __future__ import annotations

import math

import torch

from ..targets import score
from ._incremental_occlusion import Incremental, Plan, plan_for
from .base import Explainer, model_output, register


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
    # a stride longer than the window can put the last position past the edge: captum's mask is empty there
    return [(y, min(y + h, H), x, min(x + w, W)) for y in ys for x in xs if y < H and x < W]


#: values a chunk of incremental jobs may hold at once in its largest tensor (32 MB of float32)
INCREMENTAL_BUDGET = 2 ** 23


@register
class Occlusion(Explainer):
    name = "occlusion"
    costly = True   # many forward passes per image
    signed = True   # occluding may raise the score as well as lower it
    # its occluded passes (incremental patches spliced into NCHW activations) run as the model is given, and
    # the clean pass each drop is measured from must be summed the same way
    channels_last = False
    defaults = {"window": 15, "stride": None, "baseline": 0.0, "batch_size": 64, "incremental": True}
    option_types = {"window": (int, tuple, list), "stride": (int, tuple, list, type(None)), "baseline": (float, torch.Tensor)}

    def __init__(self, model, layer=None, **options):
        super().__init__(model, layer, **options)
        self._plans: dict[str, Plan | None] = {}  # the model's local prefix, traced once: a cache, not a result

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
            incremental = None
            if self.options["incremental"]:
                if "plan" not in self._plans:
                    self._plans["plan"] = plan_for(self.model)
                if self._plans["plan"] is not None:
                    incremental = Incremental(self._plans["plan"], x)
            # sums of drops and counts of windows per pixel, as 2-D difference arrays (a window adds at its
            # top-left corner and takes away past its edges; cumulative sums spread it over its box)
            total = torch.zeros((B, H + 1, W + 1), dtype=torch.float64, device=x.device)
            count = torch.zeros((H + 1, W + 1), dtype=torch.float64, device=x.device)
            for window, stride in zip(self.windows, self.strides):
                boxes = torch.tensor(window_boxes((H, W), window, stride), device=x.device)
                t, b, l, r = boxes.unbind(1)
                for rows, cols, sign in ((t, l, 1.0), (t, r, -1.0), (b, l, -1.0), (b, r, 1.0)):
                    count.index_put_((rows, cols), torch.full_like(rows, sign, dtype=torch.float64), accumulate=True)
                if incremental is not None:
                    sizes = incremental.layout(boxes)
                    step = max(int(self.options["batch_size"]), INCREMENTAL_BUDGET // incremental.job_size(sizes))
                else:
                    step = int(self.options["batch_size"])
                # incremental chunks hold one image's windows: the same chunks as for the image alone, so a
                # batch gives each image the same map, to the bit, as that image alone
                per_image = incremental is not None or len(boxes) >= step
                images = torch.arange(B, device=x.device).repeat_interleave(len(boxes))
                all_boxes = boxes.repeat(B, 1)
                starts = ([i * len(boxes) + s for i in range(B) for s in range(0, len(boxes), step)] if per_image
                          else range(0, len(images), step))
                for start in starts:
                    end = min(start + step, (start // len(boxes) + 1) * len(boxes)) if per_image else start + step
                    img, box = images[start:end], all_boxes[start:end]
                    if incremental is not None:
                        out, unchanged = incremental.forward(img, box, window, baseline, sizes)
                    else:
                        out, unchanged = self.model(_occluded(x, img, box, baseline)), None
                    drop = (clean[img] - score(fixed.select(img), model_output(out))).double()
                    if unchanged is not None:
                        drop = drop.masked_fill(unchanged, 0.0)
                    t, b, l, r = box.unbind(1)
                    for rows, cols, sign in ((t, l, 1.0), (t, r, -1.0), (b, l, -1.0), (b, r, 1.0)):
                        total.index_put_((img, rows, cols), sign * drop, accumulate=True)
            total, count = total.cumsum(1).cumsum(2)[:, :H, :W], count.cumsum(0).cumsum(1)[:H, :W]
        return (total / count.clamp(min=1)).to(x.dtype), output  # 0 where no window reaches (stride > window)


def _occluded(x, img, boxes, baseline):
    """x[img[n]] with boxes[n] = (top, bottom, left, right) filled with the baseline."""
    H, W = x.shape[-2:]
    rows, cols = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    t, b, l, r = (v[:, None] for v in boxes.unbind(1))
    hole = (((rows >= t) & (rows < b))[:, :, None] & ((cols >= l) & (cols < r))[:, None, :]).unsqueeze(1)
    return torch.where(hole, baseline, x[img])
