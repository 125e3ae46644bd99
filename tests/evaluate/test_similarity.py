import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotlens.evaluate import spearman, ssim
from pilotlens.evaluate.similarity import average_ranks


def test_identical_maps_correlate_perfectly():
    a = torch.rand(3, 7, 9, dtype=torch.float64)
    torch.testing.assert_close(spearman(a, a), torch.ones(3))
    torch.testing.assert_close(spearman(a, a.exp() * 3), torch.ones(3))  # only the order counts


def test_reversed_ranks_give_minus_one():
    a = torch.arange(20.0).view(1, 4, 5)
    torch.testing.assert_close(spearman(a, -a), -torch.ones(1))
    torch.testing.assert_close(spearman(a, a.flip(-1).flip(-2)), -torch.ones(1))


def test_a_hand_computed_case_with_ties():
    # ranks of a: 0, 1.5, 1.5, 3; of b: 0, 1, 2, 3 -> Pearson of (-1.5, 0, 0, 1.5) and (-1.5, -.5, .5, 1.5)
    a = torch.tensor([[[0.0, 1.0], [1.0, 2.0]]])
    b = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    assert average_ranks(a.flatten(1)).tolist() == [[0.0, 1.5, 1.5, 3.0]]
    expected = (2.25 + 2.25) / np.sqrt((2.25 * 2) * (2.25 * 2 + 0.25 * 2))
    assert spearman(a, b).item() == np.float32(expected)


def test_average_ranks_are_scipys_rankdata_on_batches_full_of_ties():
    """Several rows at once (a group never runs into the next row), float32 ranked as float64 would be."""
    from scipy.stats import rankdata
    g = torch.Generator().manual_seed(0)
    values = (torch.randint(0, 6, (5, 40), generator=g) / 3).float()
    values[2] = 1.0                                          # one tie over a whole row
    values[3, -1] = values[4, 0] = 7.0                       # equal values ending one row, starting the next
    ref = rankdata(values.double().numpy(), method="average", axis=1) - 1
    for v in (values, values.double()):
        r = average_ranks(v)
        assert r.dtype == torch.float64 and np.array_equal(r.numpy(), ref)


def test_constant_maps():
    flat, varied = torch.zeros(1, 4, 4), torch.rand(1, 4, 4)
    assert spearman(flat, flat).item() == 1.0
    assert spearman(flat, varied).item() == 0.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=12, max_size=12),
       st.lists(st.floats(-5, 5, allow_nan=False), min_size=12, max_size=12))
def test_spearman_matches_numpy_pearson_of_average_ranks(xs, ys):
    def ranks(v):
        v = np.asarray(v)
        return np.array([np.mean(np.flatnonzero(np.sort(v) == e)) for e in v])
    a, b = torch.tensor(xs, dtype=torch.float64).view(1, 3, 4), torch.tensor(ys, dtype=torch.float64).view(1, 3, 4)
    ra, rb = ranks(xs), ranks(ys)
    if ra.std() == 0 or rb.std() == 0:
        return
    ref = np.corrcoef(ra, rb)[0, 1]
    assert abs(spearman(a, b).item() - ref) < 1e-5
    assert abs(spearman(a, b).item() - spearman(b, a).item()) < 1e-6


def test_ssim_of_a_map_with_itself_is_one_and_less_otherwise():
    torch.manual_seed(0)   # unseeded, two random maps measured above 0.2 once in a while
    a = torch.rand(2, 20, 24)
    torch.testing.assert_close(ssim(a, a), torch.ones(2))
    assert (ssim(a, torch.rand(2, 20, 24)) < 0.2).all()
    assert (ssim(a, (a + 0.05 * torch.randn_like(a)).clamp(0, 1)) > ssim(a, 1 - a)).all()


def test_ssim_by_hand_on_constant_maps():
    # constant maps c and d: means c, d, no variance -> (2cd + C1) / (c^2 + d^2 + C1)
    c, d, c1 = 0.2, 0.6, 0.01 ** 2
    want = (2 * c * d + c1) / (c * c + d * d + c1)
    # float64 maps get a float64 window; float32 maps a float32 one (weights summing to 1 only in
    # float32), which with no variance against C2 = 9e-4 shows as a 1e-5 bias, plus 5e-5 from the maps
    got = ssim(torch.full((1, 12, 12), c, dtype=torch.float64), torch.full((1, 12, 12), d, dtype=torch.float64))
    assert abs(got.item() - want) < 1e-5
    assert abs(ssim(torch.full((1, 12, 12), c), torch.full((1, 12, 12), d)).item() - want) < 1e-4


def test_ssim_matches_scikit_image():
    skimage = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 30, 50, generator=g, dtype=torch.float64)
    b = (a + 0.3 * torch.rand(3, 30, 50, generator=g, dtype=torch.float64)).clamp(0, 1)
    b[2] = 0.4  # a flat map as well
    ref = torch.tensor([skimage.structural_similarity(a[i].numpy(), b[i].numpy(), data_range=1.0, gaussian_weights=True,
                                                      sigma=1.5, use_sample_covariance=False) for i in range(3)])
    torch.testing.assert_close(ssim(a, b).double(), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(ssim(a.float(), b.float()).double(), ref, atol=1e-4, rtol=0)


def test_ssim_on_maps_smaller_than_its_window():
    a = torch.rand(1, 5, 6)
    torch.testing.assert_close(ssim(a, a), torch.ones(1))


def test_maps_ranked_once_compare_as_the_maps_themselves():
    from pilotlens.evaluate.similarity import Ranks
    torch.manual_seed(3)
    a, b = torch.rand(4, 9, 11), torch.rand(4, 9, 11)
    a[0] = 0.5                                  # a flat map
    b[1, :4] = 0                                # ties
    ranked = Ranks(a)
    assert torch.equal(spearman(ranked, b), spearman(a, b))
    assert torch.equal(spearman(b, ranked), spearman(b, a))
    with pytest.raises(ValueError, match="same shape"):
        spearman(ranked, b[:2])


@pytest.mark.parametrize("shape", [(4, 66, 200), (3, 30, 50), (2, 7, 9)])
def test_ssim_matches_pytorch_msssim(shape):
    """pytorch-msssim (its separable Gaussian convolutions; pilotlens's SSIM before it took two matrix
    products) on the same maps, window and constants."""
    msssim = pytest.importorskip("pytorch_msssim")
    g = torch.Generator().manual_seed(1)
    a = torch.rand(*shape, generator=g)
    b = (a + 0.3 * torch.rand(*shape, generator=g)).clamp(0, 1)
    b[0] = 0.4                                   # a flat map
    size = min(11, shape[1], shape[2])
    size -= 1 - size % 2
    ref = msssim.ssim(a[:, None], b[:, None], data_range=1.0, size_average=False, win_size=size, win_sigma=1.5)
    torch.testing.assert_close(ssim(a, b), ref, atol=1e-6, rtol=0)
