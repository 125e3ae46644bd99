"""Drawing and writing: pure functions on uint8 RGB frames and [0, 1] maps, and atomic writers."""
from .colormaps import COLORMAPS, apply_colormap, to_uint8
from .gauge import draw_gauge
from .panels import grid, panels, save_image, title_height
from .video import SUPPORTED, FolderSink, AVSink, Sink, open_sink
from .views import VIEWS, crop_salient, draw, focus_view, mask_overlay, overlay, salient_box, saliency_view

__all__ = [
    "COLORMAPS", "apply_colormap", "to_uint8",
    "VIEWS", "draw", "overlay", "saliency_view", "focus_view", "mask_overlay", "crop_salient", "salient_box",
    "draw_gauge",
    "panels", "grid", "save_image", "title_height",
    "SUPPORTED", "Sink", "AVSink", "FolderSink", "open_sink",
]
