"""The explanation methods, one file each; importing this package registers them by name."""
from . import (ablation_cam, activation, cam, deeplift, eigen_cam, full_grad, fusion, grad_cam,  # noqa: F401
               gradient, gradient_cams, guided_backprop, guided_grad_cam, hypercolumns, input_x_gradient,
               integrated_gradients, lrp, occlusion, random_map, rise, score_cam, smoothgrad, visual_backprop)
from .base import REGISTRY, Explainer, get_method
from .spec import MethodSpec, parse_method, parse_methods

__all__ = ["Explainer", "REGISTRY", "get_method", "MethodSpec", "parse_method", "parse_methods"]
