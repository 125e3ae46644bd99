"""The Saliency result and per-image normalisation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


# A map whose spread is below this fraction of its magnitude is flat: the differences are rounding
# noise (e.g. a conv summing in a different order at different positions), not a signal to stretch.
FLAT = 1e-5


def normalize(raw: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each image of a B x H x W batch to [0, 1]; a flat map becomes all zeros."""
    flat = raw.reshape(raw.shape[0], -1)
    lo = flat.amin(dim=1, keepdim=True)   # amin/amax: no argmin/argmax indices to compute
    hi = flat.amax(dim=1, keepdim=True)
    span = hi - lo
    live = span > FLAT * torch.maximum(lo.abs(), hi.abs())
    # one scale per image (0 for a flat one), so the whole map costs a subtract and a multiply
    scale = torch.where(live, 1 / torch.where(live, span, torch.ones_like(span)), torch.zeros_like(span))
    return (flat - lo).mul_(scale).reshape(raw.shape)


@dataclass
class Saliency:
    """What an explainer returns for a batch.

    maps:   B x H x W float32 in [0, 1] at the input's resolution (min-max per image).
    raw:    B x H x W before normalisation; signed where the method is signed.
    output: the model's output for the batch, B x K.
    method, layer, target: what was asked, for labels and reports.
    """

    maps: torch.Tensor
    raw: torch.Tensor
    output: torch.Tensor
    method: str
    layer: str | None = None
    target: str = ""

    def __len__(self) -> int:
        return self.maps.shape[0]

    def numpy(self) -> np.ndarray:
        """The maps as a numpy B x H x W float32 array (for drawing)."""
        return self.maps.detach().float().cpu().numpy()
