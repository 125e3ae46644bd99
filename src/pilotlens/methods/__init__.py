"""The explanation methods, one file each; importing this package registers them by name.

The package is also callable: `pilotlens.methods()` lists the names `explain` accepts. A function of that
name beside the package would shadow it as `pilotlens.methods`, and `import pilotlens.methods.grad_cam as m`
would then fail; the one name serves both."""
import sys
import types

from . import (ablation_cam, activation, cam, deeplift, eigen_cam, full_grad, fusion, grad_cam,  # noqa: F401
               gradient, gradient_cams, guided_backprop, guided_grad_cam, hypercolumns, input_x_gradient,
               integrated_gradients, lrp, occlusion, random_map, rise, score_cam, smoothgrad, visual_backprop)
from .base import REGISTRY, Explainer, get_method
from .spec import MethodSpec, parse_method, parse_methods

__all__ = ["Explainer", "REGISTRY", "get_method", "MethodSpec", "parse_method", "parse_methods"]


class _CallablePackage(types.ModuleType):
    def __call__(self) -> list[str]:
        """The names `explain` accepts."""
        return sorted(REGISTRY)


sys.modules[__name__].__class__ = _CallablePackage
