"""The Saliency result and per-image normalisation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def normalize(raw: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each image of a B x H x W batch to [0, 1]; a flat map becomes all zeros."""
    flat = raw.reshape(raw.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - lo
    safe = torch.where(span > 0, span, torch.ones_like(span))
    out = torch.where(span > 0, (flat - lo) / safe, torch.zeros_like(flat))
    return out.reshape(raw.shape)


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
