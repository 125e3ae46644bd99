"""Pictures for a report: mean curves per method (matplotlib, imported only here, Agg canvas without
pyplot so no global backend is touched) and a grid of example maps (pilotlens.render)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(ncols: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * ncols, 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _band(ax, xs, curves: np.ndarray, label: str, style: str = "-") -> None:
    mean = np.nanmean(curves, axis=0)
    line, = ax.plot(xs, mean, style, label=label, linewidth=1.6 if label != "random" else 1.2,
                    color="0.45" if label == "random" else None)
    if curves.shape[0] > 1:
        std = np.nanstd(curves, axis=0)
        ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.12, linewidth=0)


def curve_plot(path: Path, panels: list[tuple[str, str, np.ndarray, dict[str, np.ndarray], str]]) -> Path:
    """One subplot per (title, x label, xs, {method: B x T curves}, y label); mean +- std bands."""
    fig, axes = _figure(len(panels))
    for ax, (title, xlabel, xs, curves, ylabel) in zip(axes, panels):
        for label, c in curves.items():
            _band(ax, xs, np.asarray(c, dtype=float), label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path)
    return path


def road_plot(path: Path, fractions: np.ndarray, morf: dict[str, np.ndarray], lerf: dict[str, np.ndarray],
              ylabel: str) -> Path:
    """MoRF (solid) and LeRF (dashed) mean curves per method on one axis."""
    fig, (ax,) = _figure(1)
    for label in morf:
        mean_m = np.nanmean(morf[label], axis=0)
        line, = ax.plot(fractions, mean_m, "-", label=f"{label} MoRF",
                        color="0.45" if label == "random" else None)
        ax.plot(fractions, np.nanmean(lerf[label], axis=0), "--", color=line.get_color(), label=f"{label} LeRF")
    ax.set_title("ROAD (noisy linear imputation)", fontsize=10)
    ax.set_xlabel("fraction of pixels removed")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path)
    return path


def sanity_plot(path: Path, stages: list[str], spearman: dict[str, np.ndarray], threshold: float,
                mode: str = "cascading") -> Path:
    """Mean Spearman per stage (cascading: top layer first; independent: one layer each) per method."""
    fig, (ax,) = _figure(1)
    xs = np.arange(len(stages) + 1)
    for label, rho in spearman.items():
        ax.plot(xs, np.r_[1.0, np.nanmean(rho, axis=1)], "o-" if mode == "cascading" else "o", markersize=3,
                label=label, color="0.45" if label == "random" else None)
    ax.axhline(threshold, color="k", linewidth=0.8, linestyle=":")
    ax.set_xticks(xs, ["trained"] + stages, rotation=60, ha="right", fontsize=7)
    ax.set_title(f"sanity: {mode} randomisation", fontsize=10)
    ax.set_ylabel("Spearman with the trained model's map")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path)
    return path


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
    """A grid: one row per image, the image then its map (overlay) for each method."""
    from ..render import grid, overlay, save_image

    scale = max(1.0, 96 / max(1, images[0].shape[0]))
    rows = [[img] + [overlay(img, maps[m][i]) for m in maps] for i, img in enumerate(images)]
    save_image(path, grid(rows, row_titles=titles, col_titles=["input", *maps], scale=min(scale, 4.0)))
    return path
