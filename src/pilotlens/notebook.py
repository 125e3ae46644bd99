"""Show results in a notebook: `pilotlens.show(...)` gives a matplotlib figure, and a Saliency draws
itself (`Saliency._repr_png_`) as a row of panels, one per image, on the same colour scale and with the
same "no evidence" words as the videos and PNGs (render/look.py)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# render (OpenCV) and matplotlib are imported inside the functions: `import pilotlens` stays light

#: at most this many images of a batch are drawn (a notebook cell, not a video)
LIMIT = 8


def _image_of(item: Any) -> np.ndarray:
    """A uint8 RGB image from a Frame or an array."""
    image = getattr(item, "image", item)
    return np.asarray(image)


def _heading(sal) -> str:
    words = sal.method + (f" for {sal.target}" if sal.target else "") + (f" at {sal.layer}" if sal.layer else "")
    return words + (", signed" if sal.signed else "")


def saliency_picture(sal, images: Sequence[Any] | None = None, look=None, limit: int = LIMIT) -> np.ndarray:
    """A Saliency as one uint8 RGB picture: its heading (method, target, layer), then a panel per image
    (the first `limit`) with the colour legend. With `images` (frames or uint8 arrays, one per map)
    each map is drawn on its image in the look's view, else the map alone in colour."""
    from .render.colormaps import apply_colormap, apply_diverging
    from .render.look import Look
    from .render.notice import no_evidence_text, stamp
    from .render.panels import _label, _scaled, panels, title_height
    from .render.scale import is_empty, robust

    look = look or Look()
    shown = sal.shown().detach().float().cpu().numpy()[:limit]
    if images is not None:
        images = [_image_of(im) for im in list(images)[:len(shown)]]
        if len(images) != len(shown):
            raise ValueError(f"show: got {len(images)} images for {len(shown)} maps")
    width = shown.shape[2] if images is None else images[0].shape[1]
    s = look.scale_for(width)
    tiles, titles = [], []
    for i, m in enumerate(shown):
        # a steering target's side follows the angle, column 0 of a (angle[, throttle]) output
        angle = {"angle": float(sal.output[i, 0])} if 1 <= sal.output.shape[1] <= 2 else None
        note = no_evidence_text(sal.target, angle, sal.layer)
        if images is not None:
            tile = look.draw(_scaled(images[i], s), m, sal.signed, note=note, text_scale=s)
        else:
            scaled = robust(m, look.clip, sal.signed)
            tile = _scaled(apply_diverging(scaled) if sal.signed else apply_colormap(scaled, look.colormap), s)
            if is_empty(m):
                tile = stamp(tile, note, s)
        if look.legend:
            tile = np.vstack([tile, look.legend_for(tile.shape[1], sal.signed, s)])
        tiles.append(tile)
        titles.append(f"#{i}")
    row = panels(tiles, titles, scale=1, text_scale=s)
    heading = _heading(sal) + (f" (first {limit} of {len(sal)})" if len(sal) > limit else "")
    return np.vstack([_label(heading, title_height(s), row.shape[1], s), row])


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 RGB H x W x 3 -> PNG bytes."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    return buf.tobytes()


def _pictures(obj: Any, images, look, limit: int) -> list[tuple[np.ndarray, str]]:
    """(picture, title) pairs for what show() was given."""
    from .saliency import Saliency

    if isinstance(obj, Saliency):
        return [(saliency_picture(obj, images, look, limit), "")]
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, Saliency) for o in obj):
        return [(saliency_picture(o, images, look, limit), "") for o in obj]
    if hasattr(obj, "maps") and hasattr(obj, "signed") and hasattr(obj, "prediction"):   # a FrameExplainer result
        if images is None:
            raise ValueError("show: an explained batch needs its frames: show(result, frames)")
        frames = list(images)[:limit]
        return [(look.compose(f, obj.maps_of(i), obj.prediction(i), obj.signed, target=obj.target,
                              layers=getattr(obj, "layers", None)), "") for i, f in enumerate(frames)]
    items = [obj] if (hasattr(obj, "image") or isinstance(obj, np.ndarray)) else list(obj)
    out = []
    for item in items[:limit]:
        image = _image_of(item)
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
