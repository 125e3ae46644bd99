"""The explanation methods, one file each; importing this package registers them by name."""
from . import (activation, cam, grad_cam, gradient, guided_backprop, guided_grad_cam, hypercolumns,  # noqa: F401
               integrated_gradients, occlusion, random_map, smoothgrad, visual_backprop)
from .base import REGISTRY, Explainer, get_method
from .spec import MethodSpec, parse_method, parse_methods

__all__ = ["Explainer", "REGISTRY", "get_method", "MethodSpec", "parse_method", "parse_methods"]
