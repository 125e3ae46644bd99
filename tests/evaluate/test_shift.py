import pytest
import torch

from pilotlens.evaluate import salient_window, shift_image, shift_test

from .helpers import LeftHalf, half_maps, images, uniform_maps

B = 6


def test_shift_image():
    x = torch.arange(5.0).view(1, 1, 1, 5)
    assert shift_image(x, 2).flatten().tolist() == [0, 0, 0, 1, 2]
    assert shift_image(x, -2).flatten().tolist() == [2, 3, 4, 4, 4]
    assert torch.equal(shift_image(x, 0), x)
    with pytest.raises(ValueError, match="does not fit"):
        shift_image(x, 5)


def test_every_map_moves_the_same_share_of_the_image():
    maps = torch.cat([half_maps(1, "left"), uniform_maps(1, 0), torch.zeros(1, 16, 16)])
    maps[2, 3, 4] = 1  # a single peak
    win = salient_window(maps, area=0.3, dilate=1, shift=2, gen=torch.Generator().manual_seed(0))
    share = win.flatten(1).float().mean(1)
    assert (share <= 0.3).all() and (share > 0.2).all()
    # the peak is in its window; a window is the dilated, widened top pixels
    assert win[2, 3, 4]
    assert win[0, :, :8].float().mean() > win[0, :, 8:].float().mean()


@pytest.fixture(scope="module")
def setup():
    return LeftHalf().eval(), images(B)


def test_moving_what_the_model_reads_changes_the_output_most(setup):
    model, x = setup
    leftward = torch.linspace(1, 0, 16).view(1, 1, 16).expand(B, 16, 16)   # a map of the left half, graded
    left = shift_test(model, x, leftward, area=0.5)
    right = shift_test(model, x, leftward.flip(-1), area=0.5)
    rnd = shift_test(model, x, uniform_maps(B, 1), area=0.5)
    # the left window holds all the model reads: the rest moves nothing
    torch.testing.assert_close(left.score, torch.ones(B), atol=1e-4, rtol=0)
    torch.testing.assert_close(right.score, -torch.ones(B), atol=1e-4, rtol=0)
    assert -1 < rnd.score.mean() < 1 and (left.salient_change > rnd.salient_change).float().mean() > 0.5
    assert left.shift == 2 and left.window.shape == (B, 16, 16)
    assert left.window[:, :, 0].all() and not left.window[:, :, -1].any()
    # a smaller window still favours the left map
    assert shift_test(model, x, leftward, area=0.3).score.mean() > rnd.score.mean() > -1


def test_a_model_that_reads_nothing_scores_zero():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 1))
    with torch.no_grad():
        model[1].weight.zero_()
    res = shift_test(model, images(2), uniform_maps(2, 0))
    assert torch.equal(res.score, torch.zeros(2))


def test_deterministic(setup):
    model, x = setup
    maps = torch.zeros(B, 16, 16)
    a, b = shift_test(model, x, maps, seed=2), shift_test(model, x, maps, seed=2)
    assert torch.equal(a.score, b.score) and torch.equal(a.window, b.window)


def _window_by_search(maps, area, dilate, shift, gen):
    """The window as defined: the top-k pixels dilated and widened, for the largest k (at least 1) whose
    window fits `area` of the image, found by a binary search over k, image by image."""
    import torch.nn.functional as F

    from pilotlens.evaluate._common import pixel_ranks
    b, h, w = maps.shape
    ranks = pixel_ranks(maps, gen)

    def window(i, k):
        top = (ranks[i] < k).view(1, 1, h, w).float()
        return F.max_pool2d(top, (2 * dilate + 1, 2 * (dilate + shift) + 1), stride=1,
                            padding=(dilate, dilate + shift))[0, 0] > 0

    out = []
    for i in range(b):
        lo, hi = 1, h * w
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if int(window(i, mid).sum()) <= area * h * w else (lo, mid - 1)
        out.append(window(i, lo))
    return torch.stack(out)


@pytest.mark.parametrize("area,dilate,shift", [(0.3, 1, 2), (0.05, 2, 4), (0.9, 0, 0), (1.0, 1, 1), (0.001, 1, 1)])
def test_the_window_is_the_largest_top_set_that_fits(area, dilate, shift):
    torch.manual_seed(1)
    maps = torch.cat([torch.rand(2, 12, 20), half_maps(1, "left")[:, :12, :16].repeat(1, 1, 2)[:, :, :20],
                      torch.zeros(1, 12, 20)])
    got = salient_window(maps, area=area, dilate=dilate, shift=shift, gen=torch.Generator().manual_seed(5))
    want = _window_by_search(maps, area, dilate, shift, torch.Generator().manual_seed(5))
    assert torch.equal(got, want)
