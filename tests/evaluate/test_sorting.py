import numpy as np
import pytest
import torch

from pilotlens.evaluate.sorting import stable_order


def _rows(seed: int) -> torch.Tensor:
    """Rows full of ties, both zeros, negatives, infinities, subnormals and huge values."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-6, 7, (6, 300), generator=g).float() / 3
    x[0, ::7] = -0.0
    x[1, ::5] = float("inf")
    x[1, 1::5] = -float("inf")
    x[2, ::3] = 1e-45                                      # the smallest subnormal, both signs
    x[2, 1::3] = -1e-45
    x[3] = torch.randn(300, generator=g) * 1e30
    x[4] = 2.5                                             # one value only
    x[5] = torch.rand(300, generator=g) - 0.5
    return x


@pytest.mark.parametrize("descending", [False, True])
def test_the_order_is_torchs_stable_float_sort(descending):
    x = _rows(0)
    keys, indices = stable_order(x, descending)
    ref = torch.sort(x, dim=1, stable=True, descending=descending)
    assert torch.equal(indices, ref.indices)
    # keys tie exactly where the sorted values do
    assert torch.equal(keys[:, 1:] == keys[:, :-1], ref.values[:, 1:] == ref.values[:, :-1])


def test_nan_and_float64_sort_as_they_are():
    x = _rows(1)
    x[2, 10] = float("nan")
    x[3, 5] = -float("nan")
    assert torch.equal(stable_order(x)[1], torch.sort(x, dim=1, stable=True).indices)
    d = _rows(2).double()
    assert torch.equal(stable_order(d, True)[1], torch.sort(d, dim=1, stable=True, descending=True).indices)


@pytest.mark.parametrize("threads", [1, 3])
def test_the_compiled_radix_sort_is_torchs_on_long_rows_split_over_threads(threads, monkeypatch):
    """Rows long enough for every digit pass, values of every magnitude and sign, many ties: the compiled
    path (a part of the rows per thread) gives torch's stable order, both ways, and SciPy's average ranks."""
    from scipy.stats import rankdata

    from pilotlens.evaluate.similarity import average_ranks
    from pilotlens.evaluate.sorting import compiled_average_ranks
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 5000, generator=g) * torch.logspace(-30, 30, 5000)[torch.randperm(5000, generator=g)]
    x[1] = (x[1] * 4).round() / 4                          # ties
    x[2] = torch.rand(5000, generator=g)                    # a map in [0, 1): the sign and top digits shared
    x[3, ::2] = 0.0
    x[3, 1::2] = -0.0
    for descending in (False, True):
        keys, order = stable_order(x, descending)
        assert torch.equal(order, torch.sort(x, dim=1, stable=True, descending=descending).indices)
    ranks = compiled_average_ranks(x)
    assert ranks is not None and np.array_equal(ranks.numpy(), rankdata(x.double().numpy(), axis=1) - 1)
    assert torch.equal(average_ranks(x), ranks)
