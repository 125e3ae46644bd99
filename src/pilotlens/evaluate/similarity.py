"""How alike two batches of maps are: Spearman rank correlation and SSIM, per image, batched in torch.

spearman(a, b): the Pearson correlation of the two maps' pixel ranks, ties given their average rank
    (a map with many equal pixels, e.g. zeros after a ReLU, is ranked fairly). 1 for maps that order
    the pixels the same way, -1 for reversed orders. A constant map has no order: two constant maps
    give 1, one constant map against a varying one gives 0.
ssim(a, b): the structural similarity of Wang et al. 2004 for maps in [0, 1] (dynamic range L = 1,
    C1 = (0.01 L)^2, C2 = (0.03 L)^2), Gaussian window 11 x 11 with sigma 1.5 (shrunk, odd, for maps
    smaller than 11 pixels), over the positions where the window fits, averaged. 1 for equal maps.

Both compute in float64 and return a (B,) float32 tensor.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("maps must be torch tensors B x H x W")
    if a.dim() == 2:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"maps must be two B x H x W tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a.detach().double(), b.detach().to(a.device).double()


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0 .. n-1 of each row of values (B x n), tied values sharing their average rank."""
    bsz, n = values.shape
    sorted_vals, order = torch.sort(values, dim=1, stable=True)
    new_group = torch.ones_like(sorted_vals, dtype=torch.bool)
    new_group[:, 1:] = sorted_vals[:, 1:] != sorted_vals[:, :-1]
    group = torch.cumsum(new_group.long(), dim=1) - 1                       # group id per sorted position
    group = group + torch.arange(bsz, device=values.device).view(-1, 1) * n  # distinct across rows
    pos = torch.arange(n, dtype=values.dtype, device=values.device).expand(bsz, n)
    total = torch.zeros(bsz * n, dtype=values.dtype, device=values.device).index_add_(0, group.flatten(), pos.flatten())
    size = torch.zeros(bsz * n, dtype=values.dtype, device=values.device).index_add_(
        0, group.flatten(), torch.ones_like(pos).flatten())
    mean_rank = (total / size.clamp_min(1))[group]
    ranks = torch.empty_like(mean_rank)
    ranks.scatter_(1, order, mean_rank)
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each pair of maps (B x H x W each) -> (B,)."""
    a, b = _pair(a, b)
    ra = average_ranks(a.flatten(1))
    rb = average_ranks(b.flatten(1))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    va, vb = (ra * ra).sum(1), (rb * rb).sum(1)
    cov = (ra * rb).sum(1)
    flat_a, flat_b = va == 0, vb == 0
    rho = cov / (va * vb).sqrt().clamp_min(1e-300)
    rho = torch.where(flat_a & flat_b, torch.ones_like(rho), torch.where(flat_a | flat_b, torch.zeros_like(rho), rho))
    return rho.clamp(-1, 1).float()


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype=torch.float64, device=None) -> torch.Tensor:
    t = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of each pair of maps (B x H x W each, values in [0, data_range]) -> (B,)."""
    a, b = _pair(a, b)
    size = min(int(window), a.shape[1], a.shape[2])
    size -= 1 - size % 2                                                        # odd
    g = gaussian_window(size, sigma, a.dtype, a.device)[None, None]
    x, y = a[:, None], b[:, None]

    def blur(t):
        return F.conv2d(t, g)

    mx, my = blur(x), blur(y)
    sxx = (blur(x * x) - mx * mx).clamp_min(0)
    syy = (blur(y * y) - my * my).clamp_min(0)
    sxy = blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1).float()
