"""One picture of a Saliency: its heading, a panel per image with the colour legend, the "no evidence"
words on an empty map (the same drawing as the videos and PNGs); and PNG bytes of a picture. Used by
`Saliency.picture` / `_repr_png_` and by `pilotlens.show` (notebook.py)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

def image_of(item: Any) -> np.ndarray:
    """A uint8 RGB image from a Frame or an array."""
    image = getattr(item, "image", item)
    return np.asarray(image)


def _heading(sal) -> str:
    words = sal.method + (f" for {sal.target}" if sal.target else "") + (f" at {sal.layer}" if sal.layer else "")
    return words + (", signed" if sal.signed else "")


def saliency_picture(sal, images: Sequence[Any] | None = None, look=None, *, limit: int) -> np.ndarray:
    """A Saliency as one uint8 RGB picture: its heading (method, target, layer), then a panel per image
    (the first `limit`) with the colour legend. With `images` (frames or uint8 arrays, one per map)
    each map is drawn on its image in the look's view, else the map alone in colour."""
    from .colormaps import apply_colormap, apply_diverging
    from .look import Look
    from .notice import no_evidence_text, stamp
    from .panels import _label, _scaled, panels, title_height
    from .scale import is_empty, robust

    look = look or Look()
    shown = sal.shown().detach().float().cpu().numpy()[:limit]
    if images is not None:
        images = [image_of(im) for im in list(images)[:len(shown)]]
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
