"""donkeycar's categorical outputs: angle and throttle bins back to values.

Shared by the zoo's DonkeyCategorical (logits) and a converted Keras categorical pilot (softmax
probabilities), so neither imports the other.
"""
from __future__ import annotations

import torch


def donkey_unbin(output: torch.Tensor, angle_bins: int = 15, throttle_range: float = 0.5) -> torch.Tensor:
    """donkeycar's categorical decoding: B x (angle bins + throttle bins) -> B x 2 [angle, throttle].

    As donkeycar's linear_unbin: angle = argmax * 2 / (angle_bins - 1) - 1 (bins spread over -1 .. 1);
    throttle = argmax * throttle_range / throttle_bins (offset 0, N = the throttle bin count).
    Logits or probabilities alike (only the argmax counts).
    """
    throttle_bins = output.shape[1] - angle_bins
    a = output[:, :angle_bins].argmax(dim=1).to(output.dtype)
    t = output[:, angle_bins:].argmax(dim=1).to(output.dtype)
    angle = a * (2.0 / (angle_bins - 1)) - 1.0
    throttle = t * (float(throttle_range) / throttle_bins)
    return torch.stack([angle, throttle], dim=1)


def donkey_soft_unbin(output: torch.Tensor, angle_bins: int = 15, throttle_range: float = 0.5,
                      probabilities: bool = False) -> torch.Tensor:
    """B x (angle bins + throttle bins) logits (or `probabilities`, as a Keras softmax gives them) ->
    B x 2 expected [angle, throttle] under each head's distribution, on the bin values `donkey_unbin`
    uses: differentiable, so a target can explain it."""
    throttle_bins = output.shape[1] - angle_bins
    pa, pt = output[:, :angle_bins], output[:, angle_bins:]
    if not probabilities:
        pa, pt = pa.softmax(dim=1), pt.softmax(dim=1)
    angles = torch.arange(angle_bins, dtype=output.dtype, device=output.device) * (2.0 / (angle_bins - 1)) - 1.0
    throttles = torch.arange(throttle_bins, dtype=output.dtype, device=output.device) * (float(throttle_range) / throttle_bins)
    return torch.stack([pa @ angles, pt @ throttles], dim=1)
