import numpy as np
import pytest
import torch

from pilotlens.evaluate import road_solve
from pilotlens.evaluate.road_solve import _impute_one, band_pays, band_solve, dissection_order, solve_many

from .helpers import dense_impute


def _case(seed, s, h, w, p=0.6, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(s, 3, h, w, generator=g, dtype=dtype)
    removed = torch.rand(s, h, w, generator=g) < p
    return x, removed


def _band(x, removed, threads=1):
    return torch.from_numpy(band_solve(x.numpy(), removed.numpy(), threads))


def test_band_solve_is_the_dense_solution():
    x, removed = _case(0, 4, 9, 12)
    removed[1, 2:8, 3:10] = True           # a large hole
    removed[2] = False
    removed[2, 4, 5] = True                # one pixel: no coupling, a band of half-width 0
    removed[3, :, 6] = True                # a whole column gone: the widest gap in the numbering
    torch.testing.assert_close(_band(x, removed), dense_impute(x, removed), atol=1e-12, rtol=0)


def test_band_solve_of_a_tall_image_numbers_the_short_side_and_agrees():
    x, removed = _case(1, 3, 14, 6)
    torch.testing.assert_close(_band(x, removed), dense_impute(x, removed), atol=1e-12, rtol=0)


def test_nothing_removed_comes_back_unchanged_and_kept_pixels_are_never_touched():
    x, removed = _case(2, 3, 8, 10)
    removed[0] = False
    out = _band(x, removed)
    assert torch.equal(out[0], x[0])
    keep = ~removed[:, None].expand_as(x)
    assert torch.equal(out[keep], x[keep])


def test_band_solve_agrees_with_superlu_at_a_model_input_size():
    """The other exact solver (SuperLU, nested dissection) on PilotNet's 66 x 200: the same solution."""
    x, removed = _case(3, 2, 66, 200, p=0.8)
    superlu = np.stack([_impute_one(a, m) for a, m in zip(x.numpy(), removed.numpy())])
    assert np.abs(band_solve(x.numpy(), removed.numpy()) - superlu).max() < 1e-9


def test_threads_do_not_change_a_bit():
    x, removed = _case(4, 7, 12, 20, dtype=torch.float32)
    one = _band(x, removed, 1)
    assert one.dtype == torch.float64                       # solved in float64 whatever came in
    torch.testing.assert_close(one, dense_impute(x.double(), removed), atol=1e-12, rtol=0)
    for threads in (2, 3, 7, 9):
        assert torch.equal(_band(x, removed, threads), one)


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_band_solve_of_other_channel_counts_is_the_dense_solution(channels):
    """Three channels take their own substitution (all at once); any other count the general one."""
    g = torch.Generator().manual_seed(6)
    x = torch.rand(2, channels, 10, 13, generator=g, dtype=torch.float64)
    removed = torch.rand(2, 10, 13, generator=g) < 0.7
    torch.testing.assert_close(_band(x, removed), dense_impute(x, removed), atol=1e-12, rtol=0)


@pytest.mark.parametrize("h, w, p", [(1, 30, 0.8), (2, 9, 0.9), (3, 3, 0.5), (17, 40, 0.95), (9, 64, 0.3)])
def test_band_solve_at_edges_of_the_factorisation(h, w, p):
    """Fewer unknowns than a panel, a one-row image, bands narrower and wider than a panel, a count of
    unknowns that is no multiple of the panel: each against the dense solution."""
    x, removed = _case(7, 3, h, w, p=p)
    removed[:, 0, 0] = False                               # every image keeps a pixel
    torch.testing.assert_close(_band(x, removed), dense_impute(x, removed), atol=1e-12, rtol=0)


def test_band_padding_is_the_one_road_solve_sizes_storage_with():
    from pilotlens.evaluate import road_band
    assert road_solve._BAND_PAD == road_band.PAD


def test_solve_many_takes_superlu_past_the_band_side(monkeypatch):
    x, removed = _case(5, 2, 10, 12)
    assert band_pays(66, 200) and band_pays(200, 66) and band_pays(240, 320) and not band_pays(320, 320)
    assert not band_pays(200, 2000)                         # faster, but 700 MB of band per thread
    monkeypatch.setattr(road_solve, "band_solve", lambda *a: pytest.fail("the band was used"))
    monkeypatch.setattr(road_solve, "_BAND_SIDE", 8)
    out = solve_many(x.numpy(), removed.numpy())
    torch.testing.assert_close(torch.from_numpy(out), dense_impute(x, removed), atol=1e-12, rtol=0)


def test_dissection_order_is_a_permutation_with_separators_last():
    key = dissection_order(9, 20, leaf=2)
    assert sorted(key.tolist()) == list(range(180))
    grid = key.reshape(9, 20)
    # the first split is the middle column (the longer side): it comes after both halves
    assert grid[:, 10].min() > max(grid[:, :10].max(), grid[:, 11:].max())
