"""The robust colour scale: the clip-th percentile of |map| is full colour, so heavy-tailed maps do
not look empty; the stored maps are never touched; the legend names the percentile."""
import numpy as np
import pytest

from pilotlens.render.legend import legend, scale_caption
from pilotlens.render.look import Look
from pilotlens.render.scale import CLIP, is_empty, robust


def _changed(a, b, levels=16):
    """Fraction of pixels where some channel moved by more than `levels` (visible on screen)."""
    return float((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > levels).mean())


def _heavy_tailed(h=120, w=160, seed=0):
    """A signed map like LRP's: Student-t (3 degrees of freedom) values, scaled by the peak into [-1, 1]."""
    raw = np.random.default_rng(seed).standard_t(3, size=(h, w)).astype(np.float32)
    return raw / np.abs(raw).max()


def test_the_percentile_of_the_absolute_map_becomes_full_colour():
    m = _heavy_tailed()
    out = robust(m, 98.0, signed=True)
    full = np.percentile(np.abs(m), 98.0)
    np.testing.assert_allclose(out, np.clip(m / full, -1, 1), rtol=1e-6)
    assert np.mean(np.abs(out) == 1.0) == pytest.approx(0.02, abs=0.002)   # the top 2 % saturate
    np.testing.assert_array_equal(robust(m, 100.0, signed=True), m)          # 100: the peak, as given
    assert robust(np.zeros((4, 4)), 98).max() == 0                           # nothing stays nothing


def test_a_sparse_map_is_scaled_by_its_peak_not_blown_up():
    m = np.zeros((50, 50), np.float32)
    m[3, 4] = 0.5   # one pixel in 2500: its 98th percentile is 0
    out = robust(m, 98.0)
    assert out[3, 4] == 1.0 and np.count_nonzero(out) == 1


@pytest.mark.parametrize("clip", [0, -1, 100.5, float("nan")])
def test_a_clip_outside_the_percentiles_is_refused(clip):
    with pytest.raises(ValueError, match="clip"):
        Look(clip=clip)


def test_a_heavy_tailed_map_changes_many_more_pixels_than_on_the_peak_scale():
    frame = np.full((120, 160, 3), 100, np.uint8)
    m = _heavy_tailed()
    peak = _changed(Look(clip=100).draw(frame, m, signed=True), frame)
    robust_ = _changed(Look().draw(frame, m, signed=True), frame)
    assert robust_ > 0.2 and robust_ > 20 * peak, (peak, robust_)   # measured: 0.1 % -> 26 %


def test_the_legend_says_where_the_scale_ends():
    assert scale_caption(True, 98) == "ends = percentile 98 of |map|"
    assert scale_caption(False, 99.5) == "high = percentile 99.5 of |map|"
    assert scale_caption(True, 100) == ""
    assert legend(300, signed=True, scale=2, clip=98).shape[0] > legend(300, signed=True, scale=2, clip=100).shape[0]
    assert Look().clip == CLIP


def test_is_empty():
    assert is_empty(np.zeros((3, 3))) and is_empty(np.full((3, 3), np.nan))
    assert not is_empty(np.eye(3))


@pytest.fixture(scope="module")
def explained_road():
    from pilotlens.data.synthetic import SyntheticSource
    from pilotlens.frame_explainer import FrameExplainer
    from pilotlens.models.pilot import Pilot

    frames = [f for f in SyntheticSource(seed=1, frames=4)]
    with FrameExplainer(Pilot.load("pilotnet"), ["lrp", "input_x_gradient"]) as fx:
        return frames, fx(frames)


@pytest.mark.parametrize("method", ["lrp", "input_x_gradient"])
def test_an_explained_road_frame_differs_visibly_from_the_plain_frame(explained_road, method):
    frames, result = explained_road
    assert result.signed[method]
    peak = np.mean([_changed(Look(clip=100).draw(f.image, result.maps[method][i], True), f.image)
                    for i, f in enumerate(frames)])
    shown = np.mean([_changed(Look().draw(f.image, result.maps[method][i], True), f.image)
                     for i, f in enumerate(frames)])
    # the map covers the pilot's crop (about 45 % of the frame); measured on these frames (> 16 levels):
    # lrp 0.9 -> 4.2 %, input_x_gradient 0.6 -> 8.4 %
    assert shown > 0.03 and shown > 3 * peak, (peak, shown)
