import pytest
import torch
from captum.attr import Occlusion as CaptumOcclusion
from conftest import assert_rel_close, build, captum_forward, explained_columns

import pilotlens
from pilotlens.methods.occlusion import window_boxes


@pytest.mark.parametrize("window,stride", [((12, 17), (6, 8)), ((16, 16), (16, 16))])
def test_occlusion_matches_captum(case, window, stride):
    name, model, x = case
    cols = explained_columns(name, model, x)
    occ = CaptumOcclusion(captum_forward(model, arranged=False))
    ref = occ.attribute(x.clone(), sliding_window_shapes=(3, *window), strides=(3, *stride), baselines=0.2,
                        target=cols, perturbations_per_eval=16)[:, 0]
    sal = pilotlens.explain(model, x, "occlusion", target=None if name == "gap" else cols[0],
                            window=window, stride=stride, baseline=0.2, batch_size=7)
    assert_rel_close(sal.raw, ref)


def test_several_window_sizes_average_every_covering_window():
    model, x = build("nested", batch=2)
    windows, stride = [5, (7, 3)], 2
    sal = pilotlens.explain(model, x, "occlusion", target=0, window=windows, stride=stride, baseline=0.0)
    # by hand: loop over windows, one occluded image at a time
    H, W = x.shape[2:]
    total, count = torch.zeros(2, H, W), torch.zeros(H, W)
    with torch.no_grad():
        clean = model(x)[:, 0]
        for win in [(5, 5), (7, 3)]:
            for t, b, l, r in window_boxes((H, W), win, (stride, stride)):
                xo = x.clone()
                xo[:, :, t:b, l:r] = 0
                total[:, t:b, l:r] += (clean - model(xo)[:, 0]).view(2, 1, 1)
                count[t:b, l:r] += 1
    assert_rel_close(sal.raw, total / count)


def test_windows_cover_every_pixel_and_clip_at_the_edge():
    boxes = window_boxes((10, 7), (4, 3), (3, 3))
    covered = torch.zeros(10, 7)
    for t, b, l, r in boxes:
        assert 0 <= t < b <= 10 and 0 <= l < r <= 7
        covered[t:b, l:r] = 1
    assert covered.all()


def test_window_larger_than_input_is_refused():
    model, x = build("nested", batch=1)
    with pytest.raises(ValueError, match="larger than the input"):
        pilotlens.explain(model, x, "occlusion", window=64)


def test_a_stride_longer_than_the_window_leaves_zeros_between_windows():
    # captum refuses strides longer than the window; here the last position may start past the edge, and
    # pixels no window covers get 0
    model, x = build("nested", batch=1)
    sal = pilotlens.explain(model, x, "occlusion", target=2, window=4, stride=10, baseline=0.0)
    H, W = x.shape[2:]
    expected = torch.zeros(1, H, W)
    with torch.no_grad():
        clean = model(x)[:, 2]
        for t in range(0, H, 10):
            for l in range(0, W, 10):
                xo = x.clone()
                xo[:, :, t:t + 4, l:l + 4] = 0
                expected[:, t:t + 4, l:l + 4] = (clean - model(xo)[:, 2]).view(1, 1, 1)
    assert torch.isfinite(sal.raw).all()
    assert_rel_close(sal.raw, expected)
