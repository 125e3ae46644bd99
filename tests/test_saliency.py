import pytest
import torch

from pilotlens.saliency import Saliency, nonfinite_rows, normalize


def test_normalize_is_min_max_per_image():
    raw = torch.tensor([[[1., 3.], [2., 5.]], [[-2., -1.], [0., 2.]]])
    out = normalize(raw)
    assert torch.allclose(out[0], torch.tensor([[0., 0.5], [0.25, 1.]]))
    assert torch.allclose(out[1], torch.tensor([[0., 0.25], [0.5, 1.]]))


def test_flat_and_rounding_noise_maps_become_zeros_not_nan():
    raw = torch.stack([torch.full((3, 4), 7.0), torch.zeros(3, 4), 1.0 + 1e-7 * torch.rand(3, 4)])
    out = normalize(raw)
    assert torch.count_nonzero(out) == 0 and torch.isfinite(out).all()


def test_saliency_numpy_view():
    maps = torch.rand(2, 3, 4)
    s = Saliency(maps=maps, raw=maps, output=torch.zeros(2, 1), method="m")
    assert len(s) == 2 and s.numpy().shape == (2, 3, 4) and s.numpy().dtype.name == "float32"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_nonfinite_rows_names_nan_and_inf_and_not_a_finite_overflow(dtype):
    big = torch.finfo(dtype).max
    x = torch.rand(5, 3, 4, 4).to(dtype)
    x[1, 0, 0, 0] = float("nan")
    x[2, 2, 3, 3] = float("-inf")
    x[3] = big                       # every element finite, the row's sum overflows
    x[4, 1] = float("inf")
    x[4, 2] = float("-inf")          # +inf and -inf: the sum is NaN
    assert nonfinite_rows(x).tolist() == [False, True, True, False, True]
    assert nonfinite_rows(x[:1]).tolist() == [False]
