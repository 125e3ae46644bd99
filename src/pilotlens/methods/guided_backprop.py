"""Guided backpropagation (Springenberg et al. 2015): the gradient with negative gradients zeroed at
every activation on the way back; max over channels of its absolute value."""
from __future__ import annotations

from ..hooks import add_guided_hooks
from .base import Explainer, channel_max_abs, register


@register
class GuidedBackprop(Explainer):
    name = "guided_backprop"

    def attribute(self, x, target, hooks):
        if add_guided_hooks(self.model, hooks) == 0:
            raise ValueError("guided_backprop needs activation modules (nn.ReLU, nn.ELU, ...) in the model; "
                             "it has none (functional activations cannot be guided)")
        grad, output, _ = self.input_gradient(x, target)
        return channel_max_abs(grad), output
