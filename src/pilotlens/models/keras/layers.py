"""Torch modules that compute what Keras layers compute, on channels-first tensors, and their weights.

Between layers a feature map is B x C x H x W (pilotlens's layout); where Keras's channels-last
layout shows (Flatten, Reshape, Dense on a map, axes of Concatenate and Softmax) the module
converts, so that Dense weights keep their meaning. Conv2D and Dense with an activation become a
small container, `<name>.conv` (or `.linear`) then `<name>.act`: the container's output is the
Keras layer's output (activation included), the inner Conv2d and activation *modules* are there for
the methods that look for them (guided backprop, visual_backprop, "last conv").
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding along one axis: (before, after); the odd pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class KerasConv2d(nn.Conv2d):
    """nn.Conv2d with Keras's 'same' padding, which is asymmetric for even kernels or strides > 1.

    The padding is computed per input size (it depends on it when stride > 1). `padding` holds the
    (top, left) padding of the latest call: where the input sits in the padded frame, which is what
    geometry readers (visual_backprop) need.
    """

    def __init__(self, *args, same: bool = False, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.same = same

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        # the convolution with any weights (nn.Conv2d's hook for it): relevance rules (LRP) reuse it
        if self.same:
            (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
            top, bottom = same_pads(x.shape[-2], kh, sh, dh)
            left, right = same_pads(x.shape[-1], kw, sw, dw)
            self.padding = (top, left)
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, weight, bias, self.stride, 0, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", keras padding='same'" if self.same else "")


def _pool_pads(x: torch.Tensor, kernel, stride) -> tuple[int, int, int, int]:
    top, bottom = same_pads(x.shape[-2], kernel[0], stride[0], 1)
    left, right = same_pads(x.shape[-1], kernel[1], stride[1], 1)
    return left, right, top, bottom


class KerasMaxPool2d(nn.MaxPool2d):
    """MaxPooling2D; with 'same' padding the border windows take the max of the pixels they cover."""

    def __init__(self, kernel, stride, same: bool = False):
        super().__init__(tuple(kernel), tuple(stride))
        self.same = same

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return F.max_pool2d(x, self.kernel_size, self.stride)
        left, right, top, bottom = _pool_pads(x, self.kernel_size, self.stride)
        self.padding = (top, left)
        return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=-math.inf), self.kernel_size, self.stride)


class KerasAvgPool2d(nn.AvgPool2d):
    """AveragePooling2D; with 'same' padding the border windows average only the pixels they cover."""

    def __init__(self, kernel, stride, same: bool = False):
        super().__init__(tuple(kernel), tuple(stride))
        self.same = same

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same:
            return F.avg_pool2d(x, self.kernel_size, self.stride)
        pads = _pool_pads(x, self.kernel_size, self.stride)
        self.padding = (pads[2], pads[0])
        ones = torch.ones_like(x[:1, :1])
        count = F.avg_pool2d(F.pad(ones, pads), self.kernel_size, self.stride)
        return F.avg_pool2d(F.pad(x, pads), self.kernel_size, self.stride) / count


class Crop2d(nn.Module):
    """Cropping2D: remove (top, bottom, left, right) pixels."""

    def __init__(self, crop):
        super().__init__()
        self.crop = tuple(int(v) for v in crop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = self.crop
        return x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]

    def extra_repr(self) -> str:
        return "top={}, bottom={}, left={}, right={}".format(*self.crop)


class ZeroBorder(nn.Module):
    """Zero (top, bottom, left, right) pixels at the border, keeping the size: donkeycar 5's "CROP"
    transformation (ImgCropMask), which masks the frame rather than cutting it."""

    def __init__(self, border):
        super().__init__()
        self.border = tuple(int(v) for v in border)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = self.border
        h, w = x.shape[-2:]
        keep = x.new_zeros(h, w)
        keep[top:h - bottom, left:w - right] = 1
        return x * keep

    def extra_repr(self) -> str:
        return "top={}, bottom={}, left={}, right={}".format(*self.border)


def channels_last_flat(x: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x (H*W*C) in Keras's order (channels vary fastest)."""
    if x.ndim == 4:
        x = x.permute(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


class KerasFlatten(nn.Module):
    """Flatten in Keras's channels-last order, so the next Dense layer's weights keep their meaning;
    order="channels_first" for a Keras 1 `dim_ordering: th` model, whose Flatten took C, H, W."""

    def __init__(self, order: str = "channels_last"):
        super().__init__()
        if order not in ("channels_last", "channels_first"):
            raise ValueError(f"flatten order must be channels_last or channels_first, got {order!r}")
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order == "channels_first":
            return x.reshape(x.shape[0], -1)
        return channels_last_flat(x)

    def extra_repr(self) -> str:
        return "" if self.order == "channels_last" else "keras 1 'th': C, H, W order"


class KerasReshape(nn.Module):
    """Reshape to a vector or to an image H x W x C (given channels-last, as Keras states it)."""

    def __init__(self, target):
        super().__init__()
        self.target = tuple(int(v) for v in target)
        if len(self.target) not in (1, 3):
            raise ValueError(f"Reshape to {self.target}: only a vector or an image (H, W, C) is supported")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = channels_last_flat(x)
        if len(self.target) == 1:
            return flat.reshape(x.shape[0], *self.target)
        return flat.reshape(x.shape[0], *self.target).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"target={self.target} (channels-last)"


class Rescale(nn.Module):
    """x * scale + offset (Rescaling, or a Lambda stated as an affine map); one value or one per channel."""

    def __init__(self, scale=1.0, offset=0.0):
        super().__init__()
        self.scale, self.offset = scale, offset
        self.register_buffer("_scale", torch.tensor(scale, dtype=torch.float32).reshape(-1), persistent=False)
        self.register_buffer("_offset", torch.tensor(offset, dtype=torch.float32).reshape(-1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
        return x * self._scale.to(x.dtype).reshape(shape) + self._offset.to(x.dtype).reshape(shape)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, offset={self.offset}"


class KerasDense(nn.Linear):
    """Dense: on a vector as nn.Linear; on a feature map along its channels (as Keras does on the last axis)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


class KerasBatchNorm(nn.BatchNorm2d):
    """BatchNormalization over the channels of a feature map, or over the features of a vector."""

    def __init__(self, features: int, eps: float = 1e-3, axis: int = -1):
        super().__init__(features, eps=eps)
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4 and self.axis not in (-1, 3):
            raise ValueError(f"BatchNormalization over Keras axis {self.axis} of a feature map: only the channel "
                             "axis (-1) is supported")
        if x.ndim == 2:
            return super().forward(x[:, :, None, None])[:, :, 0, 0]
        return super().forward(x)


def _dim(axis: int, ndim: int) -> int:
    """A Keras (channels-last) axis as the torch dimension of a channels-first tensor."""
    axis = axis % ndim
    if ndim == 4:
        return {0: 0, 1: 2, 2: 3, 3: 1}[axis]
    return axis


class KerasSoftmax(nn.Softmax):
    """softmax along a Keras axis (default the last: the channels of a map, the features of a vector)."""

    def __init__(self, axis: int = -1, log: bool = False):
        super().__init__()
        self.axis, self.log = axis, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn = torch.log_softmax if self.log else torch.softmax
        return fn(x, dim=_dim(self.axis, x.ndim))

    def extra_repr(self) -> str:
        return f"keras axis={self.axis}" + (", log" if self.log else "")


class Concat(nn.Module):
    """Concatenate along a Keras axis."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=_dim(self.axis, xs[0].ndim))


class Merge(nn.Module):
    """Add, Subtract, Multiply, Average, Maximum, Minimum of same-shaped inputs (element-wise)."""

    def __init__(self, op: str):
        super().__init__()
        if op not in ("add", "subtract", "multiply", "average", "maximum", "minimum"):
            raise ValueError(f"unknown merge {op!r}")
        self.op = op

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.op == "subtract":
            return xs[0] - xs[1]
        out = xs[0]
        for x in xs[1:]:
            out = {"add": torch.add, "average": torch.add, "multiply": torch.mul, "maximum": torch.maximum,
                   "minimum": torch.minimum}[self.op](out, x)
        return out / len(xs) if self.op == "average" else out

    def extra_repr(self) -> str:
        return self.op


class GlobalPool(nn.Module):
    """GlobalAveragePooling2D / GlobalMaxPooling2D: `pool` (nn.AdaptiveAvgPool2d(1) or max) then, unless
    keepdims, `flatten`: B x C. Real torch pooling modules, so that CAM finds its global pool."""

    def __init__(self, mode: str = "avg", keepdims: bool = False):
        super().__init__()
        self.mode, self.keepdims = mode, keepdims
        self.pool = nn.AdaptiveAvgPool2d(1) if mode == "avg" else nn.AdaptiveMaxPool2d(1)
        self.flatten = nn.Identity() if keepdims else nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.pool(x))


class WithActivation(nn.Module):
    """A Keras Conv2D or Dense layer with its activation: the inner layer, then the activation module.
    `pilotlens layers` lists it by its Keras name, after its two parts."""

    listed_as_layer = True

    def __init__(self, role: str, layer: nn.Module, act: nn.Module):
        super().__init__()
        self.role = role
        self.add_module(role, layer)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(getattr(self, self.role)(x))


def activation_module(spec: dict) -> nn.Module:
    fn = spec["fn"]
    simple = {"linear": nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6, "selu": nn.SELU, "sigmoid": nn.Sigmoid,
              "tanh": nn.Tanh, "softplus": nn.Softplus, "softsign": nn.Softsign, "swish": nn.SiLU, "gelu": nn.GELU,
              "mish": nn.Mish}
    if fn in simple:
        return simple[fn]()
    if fn == "elu":
        return nn.ELU(alpha=float(spec.get("alpha", 1.0)))
    if fn == "leaky_relu":
        return nn.LeakyReLU(negative_slope=float(spec.get("slope", 0.3)))
    if fn in ("softmax", "log_softmax"):
        return KerasSoftmax(int(spec.get("axis", -1)), log=fn == "log_softmax")
    raise ValueError(f"activation {fn!r} is not supported")


def build_layer(spec: dict) -> nn.Module:
    """The torch module for one layer spec of the graph (shapes filled in from the weights)."""
    t = spec["type"]
    act = spec.get("activation")
    if t == "conv2d":
        conv = KerasConv2d(spec["in_channels"], spec["filters"], tuple(spec["kernel"]), stride=tuple(spec["strides"]),
                           dilation=tuple(spec["dilation"]), groups=spec["groups"], bias=spec["use_bias"],
                           same=spec["padding"] == "same")
        return conv if act["fn"] == "linear" else WithActivation("conv", conv, activation_module(act))
    if t == "dense":
        dense = KerasDense(spec["in_features"], spec["units"], bias=spec["use_bias"])
        return dense if act["fn"] == "linear" else WithActivation("linear", dense, activation_module(act))
    if t == "activation":
        return activation_module(act)
    if t == "dropout":
        return nn.Dropout2d(spec["rate"]) if spec["spatial"] else nn.Dropout(spec["rate"])
    if t == "batchnorm":
        return KerasBatchNorm(spec["features"], eps=spec["epsilon"], axis=spec.get("axis", -1))
    if t == "maxpool":
        return KerasMaxPool2d(spec["pool"], spec["strides"], same=spec["padding"] == "same")
    if t == "avgpool":
        return KerasAvgPool2d(spec["pool"], spec["strides"], same=spec["padding"] == "same")
    if t == "globalpool":
        return GlobalPool(spec["mode"], spec["keepdims"])
    if t == "crop":
        return Crop2d(spec["crop"])
    if t == "mask":
        return ZeroBorder(spec["border"])
    if t == "flatten":
        return KerasFlatten(spec.get("order", "channels_last"))
    if t == "reshape":
        return KerasReshape(spec["target"])
    if t == "affine":
        return Rescale(spec["scale"], spec["offset"])
    if t == "concat":
        return Concat(spec["axis"])
    if t == "merge":
        return Merge(spec["op"])
    if t == "zeropad":
        top, bottom, left, right = spec["pad"]
        return nn.ZeroPad2d((left, right, top, bottom))
    raise ValueError(f"layer {spec['name']!r}: unknown layer type {t!r} in the graph")


# -- weights -----------------------------------------------------------------------------------
def _expect(spec: dict, arrays: list, n: int, what: str) -> None:
    if len(arrays) != n:
        raise ValueError(f"layer {spec['name']!r}: expected {n} weight arrays ({what}), the file has {len(arrays)}")


def fill_shapes(spec: dict, arrays: list[np.ndarray]) -> None:
    """Complete a layer spec with the sizes only its weights tell (input channels, features)."""
    t, name = spec["type"], spec["name"]
    if t == "conv2d":
        _expect(spec, arrays, 2 if spec["use_bias"] else 1, "kernel, bias")
        kh, kw, cin, cout = arrays[0].shape
        if [kh, kw] != spec["kernel"] or cout != spec["filters"]:
            raise ValueError(f"layer {name!r}: kernel of shape {arrays[0].shape} does not fit its config "
                             f"({spec['kernel']}, {spec['filters']} filters)")
        spec["in_channels"] = int(cin) * spec["groups"]
    elif t == "dense":
        _expect(spec, arrays, 2 if spec["use_bias"] else 1, "kernel, bias")
        if arrays[0].ndim != 2 or arrays[0].shape[1] != spec["units"]:
            raise ValueError(f"layer {name!r}: kernel of shape {arrays[0].shape} does not fit {spec['units']} units")
        spec["in_features"] = int(arrays[0].shape[0])
    elif t == "batchnorm":
        _expect(spec, arrays, 2 + int(spec["scale"]) + int(spec["center"]), "gamma, beta, moving mean and variance")
        spec["features"] = int(arrays[-1].shape[0])
    elif arrays:
        raise ValueError(f"layer {name!r} ({t}) has {len(arrays)} weight arrays in the file; it should have none")


def state_of(spec: dict, arrays: list[np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    """The state_dict entries of one layer, from its Keras arrays (in Keras's order)."""
    t = spec["type"]
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    inner = prefix
    if t in ("conv2d", "dense") and spec["activation"]["fn"] != "linear":
        inner = prefix + ("conv." if t == "conv2d" else "linear.")
    if t == "conv2d":
        out = {inner + "weight": tensor(arrays[0].transpose(3, 2, 0, 1))}  # kh kw cin cout -> cout cin kh kw
    elif t == "dense":
        out = {inner + "weight": tensor(arrays[0].T)}
    elif t == "batchnorm":
        rest = list(arrays)
        n = spec["features"]
        gamma = rest.pop(0) if spec["scale"] else np.ones(n, np.float32)
        beta = rest.pop(0) if spec["center"] else np.zeros(n, np.float32)
        return {prefix + "weight": tensor(gamma), prefix + "bias": tensor(beta), prefix + "running_mean": tensor(rest[0]),
                prefix + "running_var": tensor(rest[1]), prefix + "num_batches_tracked": torch.tensor(0)}
    else:
        return {}
    if len(arrays) > 1:
        out[inner + "bias"] = tensor(arrays[1])
    return out


class Declared:
    """A dataset's declared shape, standing in for its array: `fill_shapes` checks the layer config
    against it before anything is read (and `transpose` follows a layout change as the array would)."""

    def __init__(self, shape):
        self.shape = tuple(int(v) for v in shape)
        self.ndim = len(self.shape)

    def transpose(self, *axes) -> "Declared":
        return Declared(self.shape[a] for a in axes)

    def __getitem__(self, index) -> "Declared":
        return self  # a flip keeps the shape
