"""Notebook display: a Saliency shows itself as PNG, and pilotlens.show gives a matplotlib figure."""
import cv2
import numpy as np
import pytest
import torch

import pilotlens
from pilotlens.saliency import Saliency

pytest.importorskip("matplotlib")


def _saliency(signed=False, raw=None, target="steering(0.05)", layer="conv5"):
    raw = torch.rand(3, 20, 40) * (2 if signed else 1) - (1 if signed else 0) if raw is None else raw
    maps = pilotlens.normalize(raw)
    return Saliency(maps=maps, raw=raw, output=torch.tensor([[0.3], [0.2], [-0.4]]), method="lrp", layer=layer,
                    target=target, signed=signed)


def _decode(png: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("signed", [False, True])
def test_a_saliency_shows_itself_as_a_png_of_one_panel_per_image(signed):
    sal = _saliency(signed)
    png = sal._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = _decode(png)
    np.testing.assert_array_equal(img, sal.picture())
    # three panels side by side, each at least the map's width (enlarged until readable)
    assert img.shape[1] >= 3 * 40 and img.shape[1] % 3 == 0
    # the panels hold the maps' colours: the signed scale has blue and red, the one-way one does not
    blue, red = (img[:, :, 2] > img[:, :, 0] + 60).any(), (img[:, :, 0] > img[:, :, 2] + 60).any()
    if signed:
        assert blue and red


def test_an_empty_map_says_no_evidence_in_the_notebook_picture():
    empty = _saliency(raw=torch.zeros(3, 20, 40))
    from pilotlens.render.look import Look
    look = Look(legend=False)                         # no legend: its ramp has bright pixels too
    bright = lambda img: int((img.min(axis=2) > 200).sum())   # noqa: E731 - the words' near-white pixels
    from pilotlens.render.panels import title_height
    top = 2 * title_height(look.scale_for(40))                 # the heading and the panel titles
    panels = lambda sal: sal.picture(look=look)[top:]         # noqa: E731
    # a zero map is black on the inferno scale: only the words make near-white pixels on it
    assert bright(panels(empty)) > 100
    ramp = torch.linspace(0, 1, 40).expand(2, 20, 40)
    half_empty = _saliency(raw=torch.cat([torch.zeros(1, 20, 40), ramp]))
    words_only_first = panels(half_empty)
    third = words_only_first.shape[1] // 3
    assert bright(words_only_first[:, :third]) > 50 and bright(words_only_first[:, third:]) == 0


def test_show_gives_a_matplotlib_figure_of_what_it_is_given():
    from matplotlib.figure import Figure

    sal = _saliency(True)
    fig = pilotlens.show(sal)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), sal.picture())
    frames = [np.full((20, 40, 3), c, np.uint8) for c in (10, 120, 240)]
    fig = pilotlens.show(sal, frames)                 # maps drawn on their images
    drawn = fig.axes[0].images[0].get_array()
    assert drawn.shape == sal.picture(frames).shape
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    fig = pilotlens.show(frames)                      # plain images, one axis each
    assert len(fig.axes) == 3
    assert plt.get_fignums() == before                # not left open in pyplot (no second copy in a notebook)


def test_show_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="uint8 RGB"):
        pilotlens.show(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="2 images for 3 maps"):
        pilotlens.show(_saliency(), [np.zeros((20, 40, 3), np.uint8)] * 2)


def test_show_draws_an_explained_batch_as_the_videos_do():
    from pilotlens.data.synthetic import SyntheticSource
    from pilotlens.frame_explainer import FrameExplainer
    from pilotlens.models.pilot import Pilot
    from pilotlens.render.look import Look

    frames = list(SyntheticSource(seed=1, frames=2))
    with FrameExplainer(Pilot.load("pilotnet"), ["lrp"]) as fx:
        result = fx(frames)
    fig = pilotlens.show(result, frames)
    expected = Look().compose(frames[1], result.maps_of(1), result.prediction(1), result.signed,
                              target=result.target, layers=result.layers)
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), expected)
    with pytest.raises(ValueError, match="needs its frames"):
        pilotlens.show(result)
