"""A stable sort of each row of a batch of float32 maps, a quarter faster than torch's float sort.

Ranking maps (pixel orders for ROAD, deletion and shift; Spearman's ranks for sanity and robustness) is a
sort of B x (H * W) values and a large part of those metrics' time. torch sorts int32 keys faster than
float32 values (16 x 13,200 PilotNet maps, stable, 2 threads: grad_cam 1.6 against 1.9 ms, gradient 3.2
against 4.5, uniform noise 5.1 against 7.6), so a float32 row is sorted by the int32 key that orders the
same way: the value's bits, the negative ones' magnitude bits turned around, -0 made +0 first. Equal keys
are equal values, so ties (and their order, stable) are the same as the float sort's.
"""
from __future__ import annotations

import torch


def stable_order(values: torch.Tensor, descending: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(sorted keys, indices) of each row of values (B x n): the indices are exactly those of
    `torch.sort(values, dim=1, stable=True, descending=descending)`, the keys equal where the sorted
    values are equal. Rows of other dtypes, or with a NaN (torch sorts every NaN last), sort as they are."""
    if values.dtype != torch.float32 or bool(torch.isnan(values).any()):
        return torch.sort(values, dim=1, stable=True, descending=descending)
    bits = ((-values if descending else values) + 0.0).view(torch.int32)   # + 0.0: -0 becomes +0
    keys = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)                  # negative: larger magnitude, smaller key
    return torch.sort(keys, dim=1, stable=True)
