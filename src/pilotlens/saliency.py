"""The Saliency result and per-image normalisation."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch


# A map whose spread is below this fraction of its magnitude is flat: the differences are rounding
# noise (e.g. a conv summing in a different order at different positions), not a signal to stretch.
FLAT = 1e-5
#: at most this many images of a batch are drawn in a picture (a notebook cell, not a video)
PICTURE_LIMIT = 8


def bounds(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's (min, max) over a B x ... batch, as B x 1 each. NaN propagates into both and an inf into
    one, which is what lets finite_maps read the map's NaN/inf check off them (no pass of its own)."""
    flat = raw.reshape(raw.shape[0], -1)
    # amin and amax, not aminmax: on CPU (torch 2.13) aminmax along a dim took 20x as long as the two
    # (0.93 against 0.05 ms for 32 x 66 x 200), about 2 % of a PilotNet forward pass
    return flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)


def normalize(raw: torch.Tensor, limits: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Min-max normalise each image of a B x H x W batch to [0, 1]; a flat map becomes all zeros.
    `limits`: the batch's `bounds(raw)` when already known (they are not read again).

    The per-image decisions run in numpy on the B minima and maxima (a handful of B-element operations, each
    about 1 us in numpy against 5-10 us in torch); the map itself takes one subtract and one multiply in
    torch. (One compiled pass for both, numba, single-threaded, measured no faster inside an explainer's
    call: 0.23 ms either way for PilotNet's batch of 32, and its min and max took 0.13 ms against 0.05.)"""
    flat = raw.reshape(raw.shape[0], -1)
    lo, hi = bounds(raw) if limits is None else limits
    lo_, hi_ = _host(lo), _host(hi)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        span = hi_ - lo_
        if not np.isfinite(span).all() and np.isfinite(lo_).all() and np.isfinite(hi_).all():
            # finite values whose span overflows (|values| near the dtype's max): the same map from halves
            return normalize(flat * 0.5, (lo * 0.5, hi * 0.5)).reshape(raw.shape)
        live = span > FLAT * np.maximum(np.abs(lo_), np.abs(hi_))
        # one scale per image (0 for a flat one), so the whole map costs a subtract and a multiply
        scale = np.where(live, 1 / np.where(live, span, 1), 0).astype(span.dtype, copy=False)
    return (flat - lo).mul_(torch.from_numpy(scale).to(flat.device)).reshape(raw.shape)


def _host(t: torch.Tensor) -> np.ndarray:
    """A small tensor's values as a numpy array (bool, or float in the tensor's own precision)."""
    t = t.detach()
    if t.dtype not in (torch.bool, torch.float32, torch.float64):
        t = t.float()
    return t.cpu().numpy()


def symmetric(raw: torch.Tensor) -> torch.Tensor:
    """Scale each image of a signed B x H x W batch by its largest |value| into [-1, 1], keeping 0 at 0
    (so a diverging colour map shows the sign); a flat map becomes all zeros."""
    flat = raw.reshape(raw.shape[0], -1)
    peak = flat.abs().amax(dim=1, keepdim=True)
    scale = torch.where(peak > 0, 1 / torch.where(peak > 0, peak, torch.ones_like(peak)), torch.zeros_like(peak))
    return (flat * scale).reshape(raw.shape)


class NonFiniteWarning(RuntimeWarning):
    """Some images of a batch had a NaN or infinite input, output or map (their maps are zeros)."""


def nonfinite_rows(t: torch.Tensor) -> torch.Tensor:
    """Which rows (images) of `t` hold a NaN or an inf: B bools.

    A row's sum is finite only if every element is (NaN and inf propagate), so one reduction answers for
    almost every batch; only a row whose sum is not finite, which may also be a finite overflow, is
    checked element by element. isfinite on the whole input cost a tenth of a forward pass. The sum runs
    over the dims as laid out: reshaping a channels_last batch to B x -1 would copy it (0.76 ms for
    PilotNet's batch of 32, against 0.06 ms for the sum)."""
    t = t.detach()
    dims = tuple(range(1, t.dim()))
    suspect = ~torch.isfinite(t.sum(dim=dims) if dims else t)
    if not suspect.any():
        return suspect
    return ~torch.isfinite(t).flatten(1).all(dim=1) if dims else suspect


def finite_maps(finish: Callable[..., torch.Tensor], raw: torch.Tensor, x_bad: torch.Tensor,
                output: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(maps, raw, bad images): `finish(raw, bounds(raw))`, where an image whose input (`x_bad`: its
    nonfinite_rows, taken before the forward pass, while the batch is still in the cache), output or raw map
    is not finite gets an all-zero map and raw map (never NaN), with a warning naming the images.

    The map's own check comes from the per-image min and max the normalisation needs anyway: a NaN or inf
    in a row makes max - min non-finite, and only such a row (or a finite span that overflowed) is read
    again element by element. That spares a pass over the maps."""
    limits = bounds(raw)
    bad = ~np.isfinite(_host(limits[1]) - _host(limits[0])).reshape(-1)
    if bad.any():  # a NaN or inf in those rows, or a finite span that overflowed: read them element by element
        bad &= ~_host(torch.isfinite(raw.reshape(raw.shape[0], -1)).all(dim=1))
    bad |= _host(nonfinite_rows(output)) | _host(x_bad)
    if not bad.any():
        return finish(raw, limits), raw, []
    rows = bad.nonzero()[0].tolist()
    warnings.warn(f"{method}: image(s) {rows} of the batch have a non-finite input, model output or map "
                  "(NaN or inf); their maps are all zeros", NonFiniteWarning, stacklevel=3)
    keep = torch.from_numpy(~bad).to(raw.device).view(-1, 1, 1)
    raw = torch.where(keep, raw, torch.zeros_like(raw))
    return finish(raw), raw, rows


@dataclass
class Saliency:
    """What an explainer returns for a batch.

    maps:   B x H x W float32 in [0, 1] at the input's resolution (min-max per image).
    raw:    B x H x W before normalisation; signed where the method is signed.
    output: the model's output for the batch, B x K.
    method, layer, target: what was asked and answered (the layer the method read, the target it
            explained, e.g. "steering(0.05)" or "class argmax"), for labels and reports.
    signed: the raw maps' sign means something (evidence for vs against): draw `shown()` with a
            diverging colour map centred on zero.
    nonfinite: the images whose input, output or map was NaN or inf (their maps are zeros).
    """

    maps: torch.Tensor
    raw: torch.Tensor
    output: torch.Tensor
    method: str
    layer: str | None = None
    target: str = ""
    signed: bool = False
    nonfinite: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return self.maps.shape[0]

    def shown(self) -> torch.Tensor:
        """What to draw: `maps` in [0, 1], or for a signed method the raw maps scaled into [-1, 1]."""
        return symmetric(self.raw) if self.signed else self.maps

    def numpy(self) -> np.ndarray:
        """The maps as a numpy B x H x W float32 array (for drawing)."""
        return self.maps.detach().float().cpu().numpy()

    def picture(self, images=None, look=None) -> np.ndarray:
        """The maps as one uint8 RGB picture: a panel per image with its colour legend (on `images`, frames
        or uint8 arrays, when given); see pilotlens.show."""
        from .render.picture import saliency_picture
        return saliency_picture(self, images, look, limit=PICTURE_LIMIT)

    def _repr_png_(self) -> bytes:
        """Jupyter shows a Saliency as its picture."""
        from .render.picture import png_bytes
        return png_bytes(self.picture())
