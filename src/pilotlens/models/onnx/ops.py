"""Torch modules for the ONNX operators, built from plain layer specs (graph.py writes them; no onnx needed here).

A spec is a dict: {"type": ..., fields}. Weights are not in it: they arrive through load_state_dict, so a
converted model rebuilds from its spec alone (a saved pilot file loads without the onnx package).
Convolutions and dense layers are nn.Conv2d / nn.Linear so that every method recognises them; where ONNX
asks for more than they do (asymmetric pads, a transposed input) a small wrapper holds the plain layer.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BATCH = "B"  # in a Reshape target: the input's own batch size, whatever the file fixed


def _symmetric(pads) -> bool:
    """ONNX pads are [top, left, bottom, right] for 2-D."""
    return pads[0] == pads[2] and pads[1] == pads[3]


class PaddedConv(nn.Module):
    """A convolution whose padding torch cannot express: pads first (fixed, or SAME computed from the input)."""

    def __init__(self, conv: nn.Conv2d, pads, same: str | None = None):
        super().__init__()
        self.conv, self.pads, self.same = conv, tuple(pads), same

    def _same_pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        out = []
        for size, k, s, d in zip((h, w), self.conv.kernel_size, self.conv.stride, self.conv.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            out.append((small, big) if self.same == "SAME_UPPER" else (big, small))
        (top, bottom), (left, right) = out
        return top, left, bottom, right

    def forward(self, x):
        top, left, bottom, right = self._same_pads(*x.shape[-2:]) if self.same else self.pads
        return self.conv(F.pad(x, (left, right, top, bottom)))


def conv(spec: dict) -> nn.Module:
    pads, same = spec["pads"], spec.get("auto_pad")
    same = same if same in ("SAME_UPPER", "SAME_LOWER") else None
    plain = _symmetric(pads) and not same  # torch's own padding does it
    layer = nn.Conv2d(spec["in_channels"], spec["out_channels"], tuple(spec["kernel"]), stride=tuple(spec["stride"]),
                      padding=(pads[0], pads[1]) if plain else 0, dilation=tuple(spec["dilation"]),
                      groups=spec["groups"], bias=spec["bias"])
    return layer if plain else PaddedConv(layer, pads, same)


class InputTransposedLinear(nn.Module):
    """Gemm with transA: the input is given K x B."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear

    def forward(self, x):
        return self.linear(x.t())


def linear(spec: dict) -> nn.Module:
    layer = nn.Linear(spec["in_features"], spec["out_features"], bias=spec["bias"])
    return InputTransposedLinear(layer) if spec.get("trans_a") else layer


class Pool(nn.Module):
    """A pooling whose padding torch cannot express: pads first (-inf for max, zeros for average)."""

    def __init__(self, pool: nn.Module, pads, fill: float):
        super().__init__()
        self.pool, self.pads, self.fill = pool, tuple(pads), fill

    def forward(self, x):
        top, left, bottom, right = self.pads
        return self.pool(F.pad(x, (left, right, top, bottom), value=self.fill))


def pool(spec: dict) -> nn.Module:
    pads, kernel = spec["pads"], spec["kernel"]
    inside = _symmetric(pads) and pads[0] <= kernel[0] // 2 and pads[1] <= kernel[1] // 2  # torch's own limit
    padding = (pads[0], pads[1]) if inside else 0
    if spec["type"] == "maxpool":
        layer = nn.MaxPool2d(tuple(kernel), tuple(spec["stride"]), padding, tuple(spec["dilation"]),
                             ceil_mode=spec["ceil_mode"])
        fill = float("-inf")
    else:
        if not inside and any(pads) and not spec["count_include_pad"]:
            raise ValueError(f"AveragePool {spec['name']!r}: pads {pads} without count_include_pad are not supported")
        layer = nn.AvgPool2d(tuple(kernel), tuple(spec["stride"]), padding, ceil_mode=spec["ceil_mode"],
                             count_include_pad=spec["count_include_pad"])
        fill = 0.0
    return layer if inside or not any(pads) else Pool(layer, pads, fill)


class Softmax(nn.Module):
    """ONNX Softmax/LogSoftmax; before opset 13 the input is seen as 2-D, flattened from `axis`."""

    def __init__(self, axis: int, flatten: bool, log: bool):
        super().__init__()
        self.axis, self.flatten, self.log = axis, flatten, log

    def forward(self, x):
        fn = torch.log_softmax if self.log else torch.softmax
        if not self.flatten:
            return fn(x, dim=self.axis)
        axis = self.axis % x.dim()
        return fn(x.reshape(*x.shape[:axis], -1), dim=-1).reshape(x.shape)

    def extra_repr(self):
        return f"axis={self.axis}, flatten={self.flatten}, log={self.log}"


class Clamp(nn.Module):
    def __init__(self, low, high):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x):
        return torch.clamp(x, self.low, self.high)


def clip(spec: dict) -> nn.Module:
    low, high = spec["min"], spec["max"]
    if low == 0 and high == 6:
        return nn.ReLU6()
    if low is not None and high is not None:
        return nn.Hardtanh(low, high)
    return Clamp(low, high)


class Reshape(nn.Module):
    """Reshape to a target known at conversion: ints, -1, 0 (keep that dimension) and BATCH (the input's batch)."""

    def __init__(self, shape, allowzero: bool = False):
        super().__init__()
        self.shape, self.allowzero = list(shape), allowzero

    def forward(self, x):
        shape = [x.shape[0] if s == BATCH else (x.shape[i] if s == 0 and not self.allowzero else s)
                 for i, s in enumerate(self.shape)]
        return x.reshape(shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class Flatten(nn.Module):
    """ONNX Flatten: 2-D, (product of the dims before `axis`) x (the rest)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        axis = self.axis % x.dim() if self.axis < 0 else self.axis
        return x.reshape(math.prod(x.shape[:axis]), -1)


class Permute(nn.Module):
    def __init__(self, perm):
        super().__init__()
        self.perm = tuple(perm)

    def forward(self, x):
        return x.permute(self.perm)

    def extra_repr(self):
        return f"perm={self.perm}"


class Cat(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)


class Squeeze(nn.Module):
    def __init__(self, axes, unsqueeze: bool):
        super().__init__()
        self.axes, self.unsqueeze = None if axes is None else tuple(axes), unsqueeze

    def forward(self, x):
        if self.unsqueeze:
            rank = x.dim() + len(self.axes)
            for a in sorted(a % rank for a in self.axes):
                x = x.unsqueeze(a)
            return x
        if self.axes is None:
            return x.squeeze()
        return x.squeeze(tuple(a % x.dim() for a in self.axes))


_ARITH = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}


class Arith(nn.Module):
    """Add/Sub/Mul/Div between two tensors, or with a constant (a buffer) on the `const` side."""

    def __init__(self, op: str, const: str | None = None, const_shape=None):
        super().__init__()
        self.op, self.const_side = op, const
        if const is not None:
            self.register_buffer("const", torch.zeros(const_shape))

    def forward(self, *xs):
        fn = _ARITH[self.op]
        if self.const_side == "left":
            return fn(self.const, xs[0])
        if self.const_side == "right":
            return fn(xs[0], self.const)
        return fn(xs[0], xs[1])

    def extra_repr(self):
        return f"{self.op}" + (f", constant on the {self.const_side}" if self.const_side else "")


class MatMul(nn.Module):
    def forward(self, a, b):
        return torch.matmul(a, b)


def batchnorm(spec: dict) -> nn.Module:
    cls = nn.BatchNorm2d if spec["rank"] == 4 else nn.BatchNorm1d
    return cls(spec["channels"], eps=spec["eps"])


_SIMPLE = {
    "relu": lambda s: nn.ReLU(),
    "leaky_relu": lambda s: nn.LeakyReLU(s["alpha"]),
    "elu": lambda s: nn.ELU(s["alpha"]),
    "sigmoid": lambda s: nn.Sigmoid(),
    "tanh": lambda s: nn.Tanh(),
    "softmax": lambda s: Softmax(s["axis"], s["flatten"], s.get("log", False)),
    "clip": clip,
    "identity": lambda s: nn.Identity(),
    "dropout": lambda s: nn.Dropout(s["p"]),
    "gap": lambda s: nn.AdaptiveAvgPool2d(1),
    "gmp": lambda s: nn.AdaptiveMaxPool2d(1),
    "flatten": lambda s: nn.Flatten() if s["axis"] == 1 else Flatten(s["axis"]),
    "reshape": lambda s: Reshape(s["shape"], s.get("allowzero", False)),
    "transpose": lambda s: Permute(s["perm"]),
    "concat": lambda s: Cat(s["axis"]),
    "squeeze": lambda s: Squeeze(s["axes"], False),
    "unsqueeze": lambda s: Squeeze(s["axes"], True),
    "arith": lambda s: Arith(s["op"], s.get("const"), s.get("const_shape")),
    "matmul": lambda s: MatMul(),
    "conv": conv,
    "linear": linear,
    "maxpool": pool,
    "avgpool": pool,
    "batchnorm": batchnorm,
}


def build_layer(spec: dict) -> nn.Module:
    """The torch module for one layer spec (weights left at their defaults: load_state_dict fills them)."""
    try:
        make = _SIMPLE[spec["type"]]
    except KeyError:
        raise ValueError(f"unknown ONNX layer spec type {spec.get('type')!r}") from None
    return make(spec)
