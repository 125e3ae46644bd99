"""Pictures for a report: mean curves per method (matplotlib, imported only here, Agg canvas without
pyplot so no global backend is touched) and a grid of example maps (pilotlens.render).

Readable from 1 to 30+ methods: every method its own colour (tab10 up to ten; then tab20 and tab20b,
with a line style per group of ten), the random baseline always black and dashed, one legend outside
the axes, and the figure saved tight so that nothing is cut off."""
from __future__ import annotations

from pathlib import Path

import numpy as np

RANDOM = "random"
RANDOM_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.6}
# one line style per group of ten colours: the eleventh method differs from the first in two ways
_GROUP_STYLES = ["-", "-.", ":", (0, (5, 2)), (0, (1, 3))]


def _palette(n: int) -> list[tuple[float, ...]]:
    """n distinct colours: tab10 up to ten; beyond, tab20's dark shades, its light ones, then tab20b's
    shades (dark to light), 40 in all, repeated only past 40 (the line style still differs)."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    t20 = [colormaps["tab20"](i) for i in range(20)]
    t20b = [colormaps["tab20b"](i) for i in range(20)]
    order = t20[0::2] + t20[1::2] + [t20b[i + k] for k in range(4) for i in range(0, 20, 4)]
    return [order[i % len(order)] for i in range(n)]


def method_styles(labels) -> dict[str, dict]:
    """Line settings per method: {label: {color, linestyle, linewidth}}; random is black and dashed."""
    labels = list(labels)
    others = [label for label in labels if label != RANDOM]
    colours = _palette(len(others))
    styles = {label: {"color": colours[i], "linestyle": _GROUP_STYLES[(i // 10) % len(_GROUP_STYLES)] if len(others) > 10
                      else "-", "linewidth": 1.5} for i, label in enumerate(others)}
    if RANDOM in labels:
        styles[RANDOM] = dict(RANDOM_STYLE)
    return styles


def _figure(ncols: int, entries: int):
    """A figure of ncols plots in a row, tall enough for a legend of `entries` lines at its right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    legend_cols = _legend_columns(entries)
    rows = -(-entries // legend_cols)
    height = max(3.6, 0.2 * rows + 1.0)
    fig = Figure(figsize=(4.2 * ncols + 1.6 * legend_cols, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _legend_columns(entries: int) -> int:
    return 1 if entries <= 16 else 2


def _legend(fig, handles, labels) -> None:
    """One legend for the whole figure, outside the plots at the right (constrained layout makes room)."""
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, ncols=_legend_columns(len(labels)),
               frameon=False)


def _bounded(curves: dict[str, np.ndarray]) -> bool:
    """Whether every finite value of every curve lies in [0, 1] (then the axis, and the bands, are 0-1)."""
    values = np.concatenate([np.asarray(c, dtype=float).ravel() for c in curves.values()]) if curves else np.zeros(0)
    values = values[np.isfinite(values)]
    return values.size > 0 and values.min() >= 0.0 and values.max() <= 1.0


def _band(ax, xs, curves: np.ndarray, label: str, style: dict, bounds: tuple[float, float] | None, alpha: float):
    mean = np.nanmean(curves, axis=0)
    line, = ax.plot(xs, mean, label=label, **style)
    if curves.shape[0] > 1:
        std = np.nanstd(curves, axis=0)
        lo, hi = mean - std, mean + std
        if bounds is not None:   # a probability never leaves [0, 1]: neither does its band
            lo, hi = np.clip(lo, *bounds), np.clip(hi, *bounds)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=alpha, linewidth=0)
    return line


def _save(fig, path: Path) -> Path:
    fig.savefig(path, bbox_inches="tight", pad_inches=0.1)
    return path


def curve_plot(path: Path, panels: list[tuple[str, str, np.ndarray, dict[str, np.ndarray], str]]) -> Path:
    """One subplot per (title, x label, xs, {method: B x T curves}, y label); mean +- std bands (clipped
    to [0, 1] where the curves are), one legend for all at the right."""
    labels = list(dict.fromkeys(label for panel in panels for label in panel[3]))
    styles = method_styles(labels)
    fig, axes = _figure(len(panels), len(labels))
    handles: dict[str, object] = {}
    alpha = 0.12 if len(labels) <= 5 else 0.05   # many bands on top of each other: fainter each
    for ax, (title, xlabel, xs, curves, ylabel) in zip(axes, panels):
        bounds = (0.0, 1.0) if _bounded(curves) else None
        for label, c in curves.items():
            handles.setdefault(label, _band(ax, xs, np.asarray(c, dtype=float), label, styles[label], bounds, alpha))
        if bounds is not None:
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    _legend(fig, list(handles.values()), list(handles))
    return _save(fig, path)


def road_plot(path: Path, fractions: np.ndarray, morf: dict[str, np.ndarray], lerf: dict[str, np.ndarray],
              ylabel: str) -> Path:
    """MoRF (solid) and LeRF (dotted) mean curves per method on one axis: a colour per method, the
    two kinds told apart by width and style (named once at the top of the legend)."""
    from matplotlib.lines import Line2D

    styles = method_styles(morf)
    fig, (ax,) = _figure(1, len(morf) + 2)
    handles, names = [Line2D([], [], color="0.3", linewidth=2.0), Line2D([], [], color="0.3", linestyle=":")], \
        ["MoRF (thick)", "LeRF (dotted)"]
    for label in morf:
        style = styles[label]
        line, = ax.plot(fractions, np.nanmean(morf[label], axis=0), **{**style, "linewidth": 2.0})
        ax.plot(fractions, np.nanmean(lerf[label], axis=0), color=style["color"], linestyle=":", linewidth=1.2)
        handles.append(line)
        names.append(label)
    ax.set_title("ROAD (noisy linear imputation)", fontsize=10)
    ax.set_xlabel("fraction of pixels removed")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    _legend(fig, handles, names)
    return _save(fig, path)


def sanity_plot(path: Path, stages: list[str], spearman: dict[str, np.ndarray], threshold: float,
                mode: str = "cascading") -> Path:
    """Mean Spearman per stage (cascading: top layer first; independent: one layer each) per method."""
    styles = method_styles(spearman)
    fig, (ax,) = _figure(1, len(spearman))
    xs = np.arange(len(stages) + 1)
    for label, rho in spearman.items():
        style = styles[label] if mode == "cascading" else {**styles[label], "linestyle": "none"}
        ax.plot(xs, np.r_[1.0, np.nanmean(rho, axis=1)], marker="o", markersize=3, label=label, **style)
    ax.axhline(threshold, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xticks(xs, ["trained"] + stages, rotation=60, ha="right", fontsize=7)
    ax.set_title(f"sanity: {mode} randomisation", fontsize=10)
    ax.set_ylabel("Spearman with the trained model's map")
    ax.grid(alpha=0.3)
    _legend(fig, *ax.get_legend_handles_labels())
    return _save(fig, path)


def display_image(x: np.ndarray) -> np.ndarray:
    """A model input C x H x W (any scale) as a uint8 RGB image: min-max stretched, gray repeated."""
    img = np.asarray(x, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    img = np.moveaxis(img, 0, -1)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] != 3:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    return np.rint(img * 255).astype(np.uint8)


def examples_png(path: Path, images: list[np.ndarray], maps: dict[str, list[np.ndarray]], titles: list[str]) -> Path:
    """A grid: one row per image, the image then its map (overlay, on the robust colour scale; an
    empty map says "no evidence") for each method."""
    from ..render import grid, save_image
    from ..render.look import Look

    scale = min(max(1.0, 96 / max(1, images[0].shape[0])), 4.0)
    look = Look(legend=False)
    rows = [[img] + [look.draw(img, maps[m][i], note="no evidence", text_scale=0.6) for m in maps]
            for i, img in enumerate(images)]
    save_image(path, grid(rows, row_titles=titles, col_titles=["input", *maps], scale=scale))
    return path
