"""The explanation methods, one file each; importing this package registers them by name."""
from . import (activation, cam, deeplift, grad_cam, gradient, gradient_cams, input_x_gradient, guided_backprop, guided_grad_cam, hypercolumns,  # noqa: F401
               integrated_gradients, lrp, occlusion, score_cam, smoothgrad, visual_backprop)
from .base import REGISTRY, Explainer, get_method

__all__ = ["Explainer", "REGISTRY", "get_method"]
