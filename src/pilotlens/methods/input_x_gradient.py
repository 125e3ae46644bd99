"""Input x gradient (Shrikumar et al. 2016): raw = sum over channels of x * d score / d x. Signed: positive where
the pixel's value pushes the target up."""
from __future__ import annotations

from .base import Explainer, register


@register
class InputXGradient(Explainer):
    name = "input_x_gradient"
    signed = True

    def attribute(self, x, target, hooks):
        grad, output, _ = self.input_gradient(x, target)
        return (x * grad).sum(dim=1), output.detach()
