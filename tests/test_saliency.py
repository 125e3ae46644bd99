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


def test_finite_maps_reads_the_map_check_off_the_bounds_and_spares_a_finite_overflow():
    import warnings

    from pilotlens.saliency import NonFiniteWarning, finite_maps
    big = torch.finfo(torch.float32).max
    raw = torch.rand(5, 3, 4)
    raw[1, 0, 0] = float("nan")
    raw[2, 2, 3] = float("inf")
    raw[3, 0, 0], raw[3, 1, 1] = -big, big     # finite values, max - min overflows: not a bad image
    x_bad = torch.tensor([False, False, False, False, True])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps, kept, bad = finite_maps(normalize, raw, x_bad, torch.zeros(5, 1), "m")
    assert bad == [1, 2, 4] and any(issubclass(w.category, NonFiniteWarning) for w in caught)
    assert torch.isfinite(maps).all() and torch.count_nonzero(maps[[1, 2, 4]]) == 0
    assert torch.count_nonzero(kept[[1, 2, 4]]) == 0 and torch.equal(kept[0], raw[0])
    assert torch.allclose(maps[0], normalize(raw[:1])[0])


def test_finite_maps_with_clean_rows_equals_normalize_and_checks_the_output():
    from pilotlens.saliency import finite_maps
    raw = torch.randn(3, 6, 7)
    out = torch.zeros(3, 2)
    maps, _, bad = finite_maps(normalize, raw, torch.zeros(3, dtype=torch.bool), out, "m")
    assert bad == [] and torch.equal(maps, normalize(raw))
    out[2, 1] = float("-inf")
    with pytest.warns(RuntimeWarning):
        _, _, bad = finite_maps(normalize, raw, torch.zeros(3, dtype=torch.bool), out, "m")
    assert bad == [2]


def test_nonfinite_rows_of_a_channels_last_batch():
    x = torch.rand(3, 3, 5, 6).contiguous(memory_format=torch.channels_last)
    x[1, 2, 4, 5] = float("nan")
    assert nonfinite_rows(x).tolist() == [False, True, False]
    assert nonfinite_rows(torch.tensor([1.0, float("inf")])).tolist() == [False, True]
