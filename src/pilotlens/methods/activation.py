"""One layer's activation: the channel-mean feature map, upsampled bicubically to the input.

With `threshold` the map becomes the binary mask of the strongest activations (maps >= threshold
after min-max), the overlay of the Axionaut real-time videos.
"""
from __future__ import annotations

from ..saliency import normalize
from .base import Explainer, register, upsample


@register
class Activation(Explainer):
    name = "activation"
    uses_layer = True
    defaults = {"threshold": None}
    option_types = {"threshold": (float, type(None))}

    def check_options(self):
        t = self.options["threshold"]
        if t is not None and not 0 <= float(t) <= 1:
            raise ValueError(f"activation: threshold must lie in [0, 1], got {t}")

    def attribute(self, x, target, hooks):
        act, output = self.capture_layer(x, hooks, with_grad=False)
        return upsample(act.mean(dim=1), tuple(x.shape[-2:]), mode="bicubic"), output

    def finish(self, raw, limits=None):
        maps = normalize(raw, limits)
        t = self.options["threshold"]
        return maps if t is None else (maps >= float(t)).float()
