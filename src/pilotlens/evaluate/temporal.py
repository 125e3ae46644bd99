"""Temporal consistency for a drive: does the map change between consecutive frames as much as the
road and the steering do, and no more?

For each pair of consecutive frames (t-1, t) of a drive (frames in their order; a source's
`--step` decides how far apart they are):

    map change     1 - Spearman(map[t-1], map[t])                  (0 = the same pixel order, up to 2)
    frame change   mean |x[t] - x[t-1]| / (range of x[t-1])        (the model input, per image range)
    output change  |s(x[t]) - s(x[t-1])|                           (the tracked value: the steering angle)

A map that follows the scene changes when the frame and the steering change; a map that changes while
neither does is noise. **flicker** is the mean map change over the quiet pairs: those whose frame
change and output change are both at most their median over the drive (when no pair is quiet on both,
the pair with the smallest sum of the two ranks). Lower is better; the `random` row shows what pure
noise gives (about 1).

Per frame t (t >= 1) the values of the pair (t-1, t); frame 0 has none (NaN). Quantus has no such
metric: it scores frames one at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .similarity import spearman


@dataclass
class TemporalResult:
    """Per frame (N,), NaN for the first: map_change, frame_change, output_change; flicker (float) and
    quiet (N,) bool: the pairs it averages over."""

    map_change: torch.Tensor
    frame_change: torch.Tensor
    output_change: torch.Tensor
    quiet: torch.Tensor

    @property
    def flicker(self) -> float:
        return float(self.map_change[self.quiet].mean()) if bool(self.quiet.any()) else float("nan")


def frame_changes(x: torch.Tensor) -> torch.Tensor:
    """(N,) mean |x[t] - x[t-1]| over the image / the range of x[t-1]; NaN for t = 0."""
    prev, cur = x[:-1].flatten(1).float(), x[1:].flatten(1).float()
    span = (prev.amax(1) - prev.amin(1)).clamp_min(1e-12)
    out = torch.full((x.shape[0],), float("nan"))
    out[1:] = ((cur - prev).abs().mean(1) / span).cpu()
    return out


def quiet_pairs(frame_change: torch.Tensor, output_change: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the pairs where both changes are at most their median (see the module docstring)."""
    f, o = frame_change[1:], output_change[1:]
    quiet = torch.zeros(frame_change.shape[0], dtype=torch.bool)
    if f.numel() == 0:
        return quiet
    both = (f <= f.median()) & (o <= o.median())
    if not bool(both.any()):
        rank = f.argsort().argsort() + o.argsort().argsort()
        both = rank == rank.min()
    quiet[1:] = both
    return quiet


def temporal_consistency(maps: torch.Tensor, x: torch.Tensor, values: torch.Tensor) -> TemporalResult:
    """maps (N x H x W) of a drive's model inputs x (N x C x H x W, in order) with the tracked values (N,)."""
    if maps.shape[0] != x.shape[0] or values.shape[0] != x.shape[0]:
        raise ValueError(f"maps, inputs and values must have one entry per frame, got {maps.shape[0]}, "
                         f"{x.shape[0]} and {values.shape[0]}")
    n = maps.shape[0]
    map_change = torch.full((n,), float("nan"))
    if n > 1:
        map_change[1:] = (1 - spearman(maps[:-1], maps[1:])).cpu()
    frame = frame_changes(x)
    output = torch.full((n,), float("nan"))
    output[1:] = (values[1:] - values[:-1]).abs().float().cpu()
    return TemporalResult(map_change, frame, output, quiet_pairs(frame, output))
