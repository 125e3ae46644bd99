"""Deletion's and insertion's perturbed images: each of two batches' pixels by rank, in one pass.

Image j of a chunk is image rows[j] with its pixels ranked below cut[j] taken from `front` and the rest
from `back` (every channel of a pixel together). torch built a chunk of 64 PilotNet images in five passes
(three gathers: the ranks', the clean images' and the baseline's rows; the select; the copy into the
channels_last layout the model runs): 5.6-6.2 ms on two threads. The compiled kernel reads each source
pixel once and writes the chunk in the model's layout, which the forward pass then takes as it is: 1.9 ms
on one thread, near the memory's speed. Deletion and insertion of one method's 32 images took 660 against
711 ms (two threads; one thread 1155 against 1286). The kernel runs on one thread: split over two beside
torch's OpenMP threads it was no faster end to end.
"""
from __future__ import annotations

import torch
from numba import njit

_COMPILED_DTYPES = (torch.float32, torch.float64)


@njit(nogil=True, cache=True)
def blend_rows(front, back, ranks, rows, cut, out):
    """out[j, p, :] = front[rows[j], p, :] if ranks[rows[j], p] < cut[j] else back[rows[j], p, :], for every
    image j of the chunk. front, back: B x P x C (pixels, then channels: channels_last memory); ranks: B x P;
    out: n x P x C."""
    n_pixels, n_channels = out.shape[1], out.shape[2]
    for j in range(out.shape[0]):
        r, c = rows[j], cut[j]
        rank, src_in, src_out, dst = ranks[r], front[r], back[r], out[j]
        for p in range(n_pixels):
            src = src_in if rank[p] < c else src_out
            for ch in range(n_channels):
                dst[p, ch] = src[p, ch]


class Blend:
    """Chunks of images made of `front`'s and `back`'s pixels (B x C x H x W, the same shape) by `ranks`
    (B x H*W). channels_last: the layout the model's forward runs (layout.decide), which the chunks come in.

    `blend(rows, cut)` -> n x C x H x W: image rows[j] with its pixels of rank < cut[j] from front."""

    def __init__(self, front: torch.Tensor, back: torch.Tensor, ranks: torch.Tensor, channels_last: bool):
        self.shape, self.dtype, self.channels_last = tuple(front.shape[1:]), front.dtype, channels_last
        self.compiled = (channels_last and front.device.type == "cpu" and front.dtype in _COMPILED_DTYPES
                         and back.dtype == front.dtype)
        if self.compiled:   # B x P x C numpy copies, made once for every chunk
            self.front, self.back = _pixels_then_channels(front), _pixels_then_channels(back)
            self.ranks = ranks.detach().to(torch.int64).contiguous().numpy()
        else:
            self.front, self.back, self.ranks = front, back, ranks

    def __call__(self, rows: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
        c, h, w = self.shape
        if not self.compiled:
            chosen = (self.ranks[rows] < cut.view(-1, 1)).view(-1, 1, h, w)
            out = torch.where(chosen, self.front[rows], self.back[rows])
            return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out
        n = len(rows)
        out = torch.empty((n, h, w, c), dtype=self.dtype)
        blend_rows(self.front, self.back, self.ranks, rows.to(torch.int64).numpy(), cut.to(torch.int64).numpy(),
                   out.numpy().reshape(n, h * w, c))
        return out.permute(0, 3, 1, 2)   # n x C x H x W, channels_last in memory


def _pixels_then_channels(images: torch.Tensor):
    """B x C x H x W -> a B x (H*W) x C numpy array (a copy)."""
    b, c = images.shape[:2]
    return images.detach().permute(0, 2, 3, 1).reshape(b, -1, c).contiguous().numpy()
