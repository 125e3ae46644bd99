"""Vanilla gradient saliency (Simonyan et al. 2014): max over channels of |d score / d x|."""
from __future__ import annotations

from .base import Explainer, channel_max_abs, register


@register
class Gradient(Explainer):
    name = "gradient"

    def attribute(self, x, target, hooks):
        grad, output, _ = self.input_gradient(x, target)
        return channel_max_abs(grad), output
