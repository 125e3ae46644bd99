"""map_rows: the compiled per-image extremes and scaling give exactly what torch gives."""
import numpy as np
import pytest
import torch

from pilotlens import saliency
from pilotlens.map_rows import row_bounds, scale_rows


def _bounds(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low, high = np.empty(len(flat), np.float32), np.empty(len(flat), np.float32)
    row_bounds(flat, low, high)
    return low, high


def test_row_bounds_are_amin_and_amax_over_every_kind_of_float():
    gen = torch.Generator().manual_seed(0)
    flat = (torch.randn((9, 1001), generator=gen) * 1e3).numpy()
    flat[1] = -flat[1] ** 2                              # all negative
    flat[2] = 0.0
    flat[2, 7] = -0.0                                    # zeros of both signs: min and max compare equal
    flat[3, 500] = np.inf                                # an inf is a bound, not a NaN
    flat[4, 3] = -np.inf
    flat[5, 17] = np.float32(3.4e38)                     # the largest floats and the smallest subnormal
    flat[5, 18] = -np.float32(3.4e38)
    flat[5, 19] = np.float32(1e-45)
    flat[6, 999] = np.nan                                # NaN, as amin/amax give it
    flat[7, 0] = -np.nan                                 # a NaN with its sign bit set
    flat[8] = np.float32(2.5)
    low, high = _bounds(flat)
    t = torch.from_numpy(flat)
    np.testing.assert_array_equal(low, t.amin(dim=1).numpy())
    np.testing.assert_array_equal(high, t.amax(dim=1).numpy())
    assert np.isnan(low[6]) and np.isnan(high[6]) and np.isnan(low[7]) and np.isnan(high[7])


def test_scale_rows_is_the_float32_subtract_and_multiply():
    flat = np.random.default_rng(1).normal(size=(4, 333)).astype(np.float32)
    low = flat.min(axis=1)
    scale = (1 / (flat.max(axis=1) - low)).astype(np.float32)
    out = np.empty_like(flat)
    scale_rows(flat, low, scale, out)
    expected = (torch.from_numpy(flat) - torch.from_numpy(low)[:, None]) * torch.from_numpy(scale)[:, None]
    np.testing.assert_array_equal(out, expected.numpy())


@pytest.mark.parametrize("shape", [(32, 66, 200), (3, 1, 1), (5, 7, 9)])
def test_normalize_compiled_equals_torch_bit_for_bit(shape, monkeypatch):
    gen = torch.Generator().manual_seed(2)
    raw = torch.randn(shape, generator=gen) * 5 - 3
    raw[0] = 1.25                                        # a flat image: zeros
    if shape[0] > 3:
        raw[1] = raw[1] * 1e-7 + 1                       # rounding noise on a constant: zeros too
    compiled = saliency.normalize(raw)
    limits = saliency.bounds(raw)
    monkeypatch.setattr(saliency, "_compiled", lambda flat: False)
    assert torch.equal(compiled, saliency.normalize(raw))
    for got, want in zip(limits, saliency.bounds(raw)):
        assert torch.equal(got, want) and got.shape == (shape[0], 1)
    assert torch.equal(compiled[0], torch.zeros(shape[1:]))


def test_torch_serves_what_the_compiled_rows_do_not():
    grad = torch.rand(2, 3, 4, requires_grad=True)
    assert not saliency._compiled(grad.reshape(2, -1))
    assert not saliency._compiled(torch.rand(2, 12, dtype=torch.float64))
    assert not saliency._compiled(torch.rand(12, 2).t())   # not contiguous
    doubles = torch.rand(3, 5, 6, dtype=torch.float64)
    maps = saliency.normalize(doubles)
    assert maps.dtype == torch.float64 and maps.amin() == 0 and maps.amax() == 1
