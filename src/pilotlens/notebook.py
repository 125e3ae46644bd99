"""Show results in a notebook: `pilotlens.show(...)` gives a matplotlib figure, and a Saliency draws
itself (`Saliency._repr_png_`) as a row of panels, one per image, on the same colour scale and with the
same "no evidence" words as the videos and PNGs (render/look.py)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# render (OpenCV) and matplotlib are imported inside the functions: `import pilotlens` stays light
from .saliency import PICTURE_LIMIT as LIMIT


def _pictures(obj: Any, images, look, limit: int) -> list[tuple[np.ndarray, str]]:
    """(picture, title) pairs for what show() was given."""
    from .render.picture import image_of, saliency_picture
    from .saliency import Saliency

    if isinstance(obj, Saliency):
        return [(saliency_picture(obj, images, look, limit=limit), "")]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, Saliency) for o in obj):
        return [(saliency_picture(o, images, look, limit=limit), "") for o in obj]
    if hasattr(obj, "maps") and hasattr(obj, "signed") and hasattr(obj, "prediction"):   # a FrameExplainer result
        if images is None:
            raise ValueError("show: an explained batch needs its frames: show(result, frames)")
        frames = list(images)[:limit]
        return [(look.compose(f, obj.maps_of(i), obj.prediction(i), obj.signed, target=obj.target,
                              layers=getattr(obj, "layers", None)), "") for i, f in enumerate(frames)]
    items = [obj] if (hasattr(obj, "image") or isinstance(obj, np.ndarray)) else list(obj)
    out = []
    for item in items[:limit]:
        image = image_of(item)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"show: expected a Saliency, frames or uint8 RGB H x W x 3 images, got an array of "
                             f"shape {image.shape} dtype {image.dtype}")
        out.append((image, _title(item)))
    if not out:
        raise ValueError("show: nothing to show")
    return out


def _title(item: Any) -> str:
    from .render.look import frame_title

    return frame_title(item) if hasattr(item, "index") else ""


def show(obj: Any, images: Sequence[Any] | None = None, *, look=None, limit: int = LIMIT,
         title: str | None = None, width: float = 10.0):
    """A matplotlib Figure of `obj`, one picture under the other:

    - a Saliency (or a list of them): a panel per image with its legend; `images` (frames or uint8
      arrays) draws each map on its image;
    - a FrameExplainer result, with its frames as `images`: each frame as the videos draw it;
    - frames or uint8 RGB images (a grid from pilotlens.figures included): the images themselves.

    In Jupyter the returned figure shows itself; elsewhere `fig.savefig("out.png")`. The figure is not
    left open in pyplot (no second copy at the end of a cell). look: a pilotlens.render.look.Look
    (view, colormap, clip, ...). width: inches."""
    import matplotlib.pyplot as plt

    from .render.look import Look

    pictures = _pictures(obj, images, look or Look(), limit)
    heights = [p.shape[0] / p.shape[1] for p, _ in pictures]
    fig = plt.figure(figsize=(width, width * sum(heights) + 0.4 * bool(title)), layout="constrained")
    axes = fig.subplots(len(pictures), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (picture, name) in zip(axes, pictures):
        ax.imshow(picture, interpolation="nearest")
        ax.set_axis_off()
        if name:
            ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig
