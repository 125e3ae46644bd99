"""How alike two batches of maps are: Spearman rank correlation and SSIM, per image, batched in torch.

spearman(a, b): the Pearson correlation of the two maps' pixel ranks, ties given their average rank
    (a map with many equal pixels, e.g. zeros after a ReLU, is ranked fairly). 1 for maps that order
    the pixels the same way, -1 for reversed orders. A constant map has no order: two constant maps
    give 1, one constant map against a varying one gives 0.
ssim(a, b): the structural similarity of Wang et al. 2004 for maps in [0, 1] (dynamic range L = 1,
    C1 = (0.01 L)^2, C2 = (0.03 L)^2), Gaussian window 11 x 11 with sigma 1.5 (shrunk, odd, for maps
    smaller than 11 pixels), over the positions where the window fits, averaged. 1 for equal maps.
    The window is separable, so the five local moments (means, variances, covariance) of all the pairs
    are filtered at once, down and across (`_local_means`): 32 pairs of 66 x 200 maps on 2 threads in
    4.1 ms, against 12 ms by banded matrix products (used before, and still for float64) and 24 ms for
    pytorch-msssim's convolutions (used before that; 0.04 s for 48 maps with scikit-image, an image at a
    time; 0.25 s with torchmetrics, whose border convention differs by 4e-4). Tested against
    pytorch-msssim (2e-7) and scikit-image's `structural_similarity(
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` (1e-8 in float64, 1e-5 in float32).

spearman ranks in float64; ssim computes in the maps' precision (float32 maps: float32). Both return
a (B,) float32 tensor.
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .sorting import compiled_average_ranks, stable_order


def _checked(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two maps (or batches of maps) as B x H x W tensors of one shape, or a clear error."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("maps must be torch tensors B x H x W")
    if a.dim() == 2:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"maps must be two B x H x W tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def average_ranks(values: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Ranks 0 .. n-1 of each row of values (B x n), tied values sharing their average rank (the middle of
    their group's first and last sorted position), in `dtype`. The sort runs in values's own dtype (a float32
    map orders and ties as it would in float64, and sorts faster: `sorting`)."""
    if dtype == torch.float64:
        ranks = compiled_average_ranks(values)       # float32 on CPU: sorted and ranked in one compiled pass
        if ranks is not None:
            return ranks
    bsz, n = values.shape
    sorted_vals, order = stable_order(values)                  # float32: int32 keys, equal where the values are
    starts_here = torch.ones((bsz, n), dtype=torch.bool, device=values.device)
    torch.ne(sorted_vals[:, 1:], sorted_vals[:, :-1], out=starts_here[:, 1:])
    flat = starts_here.view(-1)                        # every row starts a group: no group spans two rows
    starts = torch.nonzero(flat).squeeze(1)            # where each group starts, in the flattened batch
    ends = torch.cat([starts[1:], starts.new_tensor([bsz * n])])
    middle = (starts + ends - 1).to(dtype) * 0.5 - (starts // n * n).to(dtype)   # within its row
    mean_rank = middle[torch.cumsum(flat, 0) - 1].view(bsz, n)
    return torch.empty((bsz, n), dtype=dtype, device=values.device).scatter_(1, order, mean_rank)


class Ranks:
    """A batch of maps (B x H x W) ranked once: their centred average ranks and spread, for `spearman`
    against many other batches (a sanity check compares the trained maps with every stage's; ranking is a
    sort, most of the comparison's time)."""

    def __init__(self, maps: torch.Tensor):
        if not isinstance(maps, torch.Tensor) or maps.dim() not in (2, 3):
            raise ValueError("maps must be a B x H x W tensor")
        maps = maps[None] if maps.dim() == 2 else maps
        self.shape = tuple(maps.shape)
        r = average_ranks(maps.detach().flatten(1))
        self.centred = r - r.mean(dim=1, keepdim=True)
        self.spread = (self.centred * self.centred).sum(1)


def spearman(a: "torch.Tensor | Ranks", b: "torch.Tensor | Ranks") -> torch.Tensor:
    """Spearman rank correlation of each pair of maps (B x H x W each, or `Ranks` of them) -> (B,)."""
    if not isinstance(a, Ranks) and not isinstance(b, Ranks):
        _checked(a, b)
    ra, rb = (m if isinstance(m, Ranks) else Ranks(m) for m in (a, b))
    if ra.shape != rb.shape:
        raise ValueError(f"maps must be two B x H x W tensors of the same shape, got {ra.shape} and {rb.shape}")
    va, vb = ra.spread, rb.spread.to(ra.spread.device)
    cov = (ra.centred * rb.centred.to(ra.centred.device)).sum(1)
    flat_a, flat_b = va == 0, vb == 0
    rho = cov / (va * vb).sqrt().clamp_min(1e-300)
    rho = torch.where(flat_a & flat_b, torch.ones_like(rho), torch.where(flat_a | flat_b, torch.zeros_like(rho), rho))
    return rho.clamp(-1, 1).float()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of each pair of maps (B x H x W each, values in [0, data_range]) -> (B,)."""
    a, b = _checked(a, b)
    dtype = torch.float64 if a.dtype == torch.float64 else torch.float32
    x, y = a.detach().to(dtype), b.detach().to(device=a.device, dtype=dtype)
    bsz, h, w = x.shape
    size = min(int(window), h, w)
    size -= 1 - size % 2                                                        # odd
    moments = torch.stack([x, y, x * x, y * y, x * y], 1)                     # B x 5 x H x W
    means = _local_means(moments, size, float(sigma))
    mx, my, xx, yy, xy = means.unbind(1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mxy, mx2, my2 = mx * my, mx * mx, my * my
    contrast = (2 * (xy - mxy) + c2) / ((xx - mx2) + (yy - my2) + c2)
    return (((2 * mxy + c1) / (mx2 + my2 + c1)) * contrast).flatten(1).mean(1).float()


def _local_means(moments: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """The Gaussian-weighted means (size x size window, std sigma, where it fits) of B x K x H x W maps.

    The window is separable: filtered down the rows, then along them. float32 maps go as one image of
    B * K channels through a depthwise convolution, channels_last (oneDNN vectorises across the channels):
    32 pairs of 66 x 200 maps in 4.1 ms on 2 threads. oneDNN has no float64 convolution and torch's own is
    50-70x slower, so float64 maps take two matrix products with banded Gaussian matrices (12 ms for the
    same 32 pairs in float32, the way every map went before)."""
    bsz, k, h, w = moments.shape
    g = _gaussian_taps(size, sigma, moments.dtype, moments.device)
    if moments.dtype == torch.float64:
        return _band_matrix(g, h) @ moments @ _band_matrix(g, w).t()
    image = moments.reshape(1, bsz * k, h, w).contiguous(memory_format=torch.channels_last)
    down = g.view(1, 1, size, 1).expand(bsz * k, 1, size, 1)
    across = g.view(1, 1, 1, size).expand(bsz * k, 1, 1, size)
    out = F.conv2d(F.conv2d(image, down, groups=bsz * k), across, groups=bsz * k)
    return out.reshape(bsz, k, h - size + 1, w - size + 1)


@lru_cache(maxsize=16)
def _gaussian_taps(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The normalised Gaussian window: `size` taps of std sigma (read only: cached)."""
    taps = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _band_matrix(g: torch.Tensor, n: int) -> torch.Tensor:
    """The 'valid' filter of a length-n signal by the taps g as a matrix ((n - len(g) + 1) x n)."""
    out = g.new_zeros(n - len(g) + 1, n)
    for i in range(len(g)):
        out.diagonal(i).fill_(g[i])
    return out
