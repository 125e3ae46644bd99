"""The gradient-weighted CAMs beyond Grad-CAM, each one combination of the layer's activation A (B x C x h x w)
and the target's gradient G = dS/dA; the template (cam_template.GradientCAM) applies the ReLU unless
`signed=True` and upsamples bilinearly to the input.

- grad_cam_pp (Chattopadhyay et al. 2018, eq. 19 with the exponential-score closed form, as torchcam and
  pytorch-grad-cam): w_k = sum_ij alpha_kij ReLU(G_kij), alpha = G^2 / (2 G^2 + sum_ab A_kab G^3) (0 where
  that is 0/0); map = sum_k w_k A_k.
- x_grad_cam (Fu et al. 2020): w_k = sum_ij G_kij A_kij / sum_ij A_kij; map = sum_k w_k A_k.
- hires_cam (Draelos & Carin 2020): map = sum_k G_k * A_k, element by element (no spatial averaging).
- layer_cam (Jiang et al. 2021): map = sum_k ReLU(G_k) * A_k.
"""
from __future__ import annotations

from .base import register
from .cam_template import GradientCAM, safe_divide
from .grad_cam import grad_cam_map


def grad_cam_pp_map(act, grad):
    g2 = grad * grad
    alpha = safe_divide(g2, 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g2 * grad)
    weights = (alpha * grad.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return (weights * act).sum(dim=1)


def x_grad_cam_map(act, grad):
    weights = safe_divide((grad * act).sum(dim=(2, 3), keepdim=True), act.sum(dim=(2, 3), keepdim=True))
    return (weights * act).sum(dim=1)


def hires_cam_map(act, grad):
    return (grad * act).sum(dim=1)


def layer_cam_map(act, grad):
    return (grad.clamp(min=0) * act).sum(dim=1)


#: the signed layer-resolution maps, by method name (multi-layer fusion combines any of them)
LAYER_MAPS = {"grad_cam": grad_cam_map, "grad_cam_pp": grad_cam_pp_map, "x_grad_cam": x_grad_cam_map,
              "hires_cam": hires_cam_map, "layer_cam": layer_cam_map}


def _method(method_name: str, cls_name: str):
    cls = type(cls_name, (GradientCAM,), {"name": method_name, "__doc__": f"{method_name}: see the module docstring.",
                                          "layer_map": staticmethod(LAYER_MAPS[method_name])})
    return register(cls)


GradCAMPlusPlus = _method("grad_cam_pp", "GradCAMPlusPlus")
XGradCAM = _method("x_grad_cam", "XGradCAM")
HiResCAM = _method("hires_cam", "HiResCAM")
LayerCAM = _method("layer_cam", "LayerCAM")
