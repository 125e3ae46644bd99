"""Evaluate's pictures stay readable from 1 to 30 methods: a legend outside the plots, a colour per
method, the random baseline black and dashed, bands inside [0, 1], nothing cut off."""
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.image import imread  # noqa: E402

from pilotlens.evaluate import _plots  # noqa: E402

XS = np.linspace(0, 1, 11)


def _curves(n, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"method_{i:02d}" for i in range(n - 1)] + ["random"]
    # wide noise: mean - std goes below 0 and mean + std above 1 somewhere
    return {m: np.clip(np.exp(-XS * rng.uniform(1, 6))[None] + rng.normal(0, 0.3, (8, 11)), 0, 1) for m in names}


def _panels(n):
    c = _curves(n)
    return [("deletion (AUC lower is better)", "fraction deleted", XS, c, "closeness"),
            ("insertion (AUC higher is better)", "fraction inserted", XS, {k: 1 - v for k, v in c.items()}, "closeness")]


def _capture(monkeypatch):
    """Keep the figure that a plot function saves, to inspect its matplotlib objects."""
    from matplotlib.figure import Figure
    saved = []
    original = Figure.savefig

    def spy(self, *a, **k):
        saved.append((self, k))
        return original(self, *a, **k)
    monkeypatch.setattr(Figure, "savefig", spy)
    return saved


@pytest.mark.parametrize("n", [1, 2, 12, 30])
def test_curves_legend_sits_outside_every_plot_and_colours_are_distinct(n, tmp_path, monkeypatch):
    saved = _capture(monkeypatch)
    path = _plots.curve_plot(tmp_path / "curves.png", _panels(n))
    assert imread(path).shape[0] > 100
    fig, kw = saved[-1]
    assert kw.get("bbox_inches") == "tight"
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), "the legend covers a plot"
        assert not box.overlaps(ax.title.get_window_extent(renderer)), "the legend covers a title"
        # nothing drawn outside the canvas that bbox_inches="tight" would not have caught: titles inside
        assert ax.title.get_window_extent(renderer).y1 <= fig.bbox.y1 + 1 or kw.get("bbox_inches") == "tight"
    assert len(legend.get_texts()) == n
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    random = lines.pop("random")
    assert to_rgba(random.get_color()) == to_rgba("black") and random.get_linestyle() == "--"
    colours = [to_rgba(line.get_color()) for line in lines.values()]
    assert len(set(colours)) == len(colours), "two methods share a colour"
    assert to_rgba("black") not in colours


def test_the_std_band_stays_inside_zero_one(tmp_path, monkeypatch):
    saved = _capture(monkeypatch)
    _plots.curve_plot(tmp_path / "curves.png", _panels(3))
    fig, _ = saved[-1]
    for ax in fig.axes:
        for band in ax.collections:
            ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
            assert ys.min() >= 0.0 and ys.max() <= 1.0
    # and curves that leave [0, 1] (a regression score) keep their band as it is
    wide = {"a": np.array([[-1.0, 2.0], [1.0, 4.0]])}
    _plots.curve_plot(tmp_path / "wide.png", [("t", "x", np.array([0.0, 1.0]), wide, "y")])
    fig, _ = saved[-1]
    ys = np.concatenate([p.vertices[:, 1] for p in fig.axes[0].collections[0].get_paths()])
    assert ys.min() < 0.0 and ys.max() > 3.0


def test_road_and_sanity_plots_keep_their_legends_outside(tmp_path, monkeypatch):
    saved = _capture(monkeypatch)
    c = _curves(30)
    _plots.road_plot(tmp_path / "road.png", XS, c, {k: 1 - v for k, v in c.items()}, "closeness")
    rho = {k: np.random.default_rng(1).uniform(0, 1, (3, 4)) for k in c}
    _plots.sanity_plot(tmp_path / "sanity.png", ["a", "b", "c"], rho, 0.5)
    for fig, _ in saved[-2:]:
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        box = fig.legends[0].get_window_extent(renderer)
        assert not box.overlaps(fig.axes[0].get_window_extent(renderer))


def test_method_styles_give_forty_distinct_colours_and_a_black_random():
    styles = _plots.method_styles([f"m{i}" for i in range(40)] + ["random"])
    colours = [to_rgba(s["color"]) for k, s in styles.items() if k != "random"]
    assert len(set(colours)) == 40
    assert styles["random"]["color"] == "black" and styles["random"]["linestyle"] == "--"
