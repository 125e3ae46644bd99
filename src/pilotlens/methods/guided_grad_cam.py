"""Guided Grad-CAM: guided backpropagation (max |.| over channels) times the upsampled Grad-CAM map."""
from __future__ import annotations

from ..hooks import HookSet, add_guided_hooks
from .base import channel_max_abs, register, upsample
from .grad_cam import GradCAM


@register
class GuidedGradCAM(GradCAM):
    name = "guided_grad_cam"
    defaults = {}          # always Grad-CAM's unsigned map: a product of two magnitudes
    signed_option = None

    def attribute(self, x, target, hooks):
        cam, output, fixed = self.layer_cam(x, target, hooks)
        hooks.remove()  # the Grad-CAM hooks are done; guided hooks go on a fresh set
        with HookSet() as guided:
            add_guided_hooks(self.model, guided)
            grad, _, _ = self.input_gradient(x, target, fixed)
        return channel_max_abs(grad) * upsample(cam, tuple(x.shape[-2:])), output
