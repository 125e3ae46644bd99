"""Guided Grad-CAM: guided backpropagation (max |.| over channels) times the upsampled Grad-CAM map."""
from __future__ import annotations

from ..hooks import HookSet, add_guided_hooks
from .base import Explainer, register, upsample
from .grad_cam import grad_cam_raw


@register
class GuidedGradCAM(Explainer):
    name = "guided_grad_cam"
    uses_layer = True

    def attribute(self, x, target, hooks):
        cam, output = grad_cam_raw(self, x, target, hooks, signed=False)
        hooks.remove()  # the Grad-CAM hooks are done; guided hooks go on a fresh set
        with HookSet() as guided:
            add_guided_hooks(self.model, guided)
            grad, _, _ = self.input_gradient(x, target, self.fixed_target(target, output))
        return grad.abs().amax(dim=1) * upsample(cam, tuple(x.shape[-2:])), output
