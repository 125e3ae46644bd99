import pytest
import torch

from pilotlens.evaluate.blend import Blend


def _by_hand(front, back, ranks, rows, cut):
    """The definition, pixel by pixel."""
    n, (c, h, w) = len(rows), front.shape[1:]
    out = torch.empty(n, c, h, w, dtype=front.dtype)
    for j in range(n):
        r = int(rows[j])
        for p in range(h * w):
            src = front if int(ranks[r, p]) < int(cut[j]) else back
            out[j, :, p // w, p % w] = src[r, :, p // w, p % w]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_compiled_chunks_are_the_definition_in_the_models_layout(dtype):
    gen = torch.Generator().manual_seed(3)
    front, back = torch.rand(4, 3, 5, 7, generator=gen, dtype=dtype), torch.rand(4, 3, 5, 7, generator=gen, dtype=dtype)
    ranks = torch.rand(4, 35, generator=gen).argsort(1).argsort(1)
    rows = torch.tensor([2, 0, 2, 3, 1, 1])                  # an image twice, in any order
    cut = torch.tensor([0, 35, 10, 1, 34, 17])               # nothing from front, everything, in between
    blend = Blend(front, back, ranks, channels_last=True)
    assert blend.compiled
    out = blend(rows, cut)
    assert out.shape == (6, 3, 5, 7) and out.dtype == dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, _by_hand(front, back, ranks, rows, cut))
    assert torch.equal(out[0], back[2]) and torch.equal(out[1], front[0])


def test_torchs_path_serves_the_plain_layout_and_other_dtypes_with_the_same_images():
    gen = torch.Generator().manual_seed(4)
    front, back = torch.rand(3, 2, 4, 6, generator=gen), torch.rand(3, 2, 4, 6, generator=gen)
    ranks = torch.rand(3, 24, generator=gen).argsort(1).argsort(1)
    rows, cut = torch.tensor([1, 2, 0]), torch.tensor([5, 0, 24])
    want = _by_hand(front, back, ranks, rows, cut)
    plain = Blend(front, back, ranks, channels_last=False)
    assert not plain.compiled
    out = plain(rows, cut)
    assert out.is_contiguous() and torch.equal(out, want)
    half = Blend(front.half(), back.half(), ranks, channels_last=True)
    assert not half.compiled
    out = half(rows, cut)
    assert out.is_contiguous(memory_format=torch.channels_last) and torch.equal(out, want.half())
