"""VisualBackProp (Bojarski et al. 2016/2017): which input pixels feed the deepest conv activations.

Each conv stage's post-activation feature maps are averaged over channels. From the deepest stage
down, the averaged map is scaled up through each conv (and pooling) layer with a transposed
convolution whose kernel is all ones with that layer's kernel size, stride, padding and dilation
(the output cut to the size of the layer's input), and multiplied pointwise with the averaged map of
the stage below; the last scale-up reaches the input. A crop layer (a module with a `crop` attribute: top, bottom,
left, right pixels, such as a Keras Cropping2D) on the way is undone by padding the map with zeros.
Needs only the forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import keep_first
from ..layers import ELEMENTWISE, LayerInfo, format_layers, trace
from .base import Explainer, register

GEOMETRY = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _two(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass
class Step:
    """A conv or pool layer to scale a map back through."""

    name: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    in_size: tuple[int, int]
    is_conv: bool
    crop: tuple[int, int, int, int] | None = None  # a crop layer: (top, bottom, left, right)

    @classmethod
    def of(cls, info: LayerInfo) -> "Step":
        m = info.module
        if _is_crop(m):
            return cls(info.name, (1, 1), (1, 1), (0, 0), (1, 1), tuple(info.input_shape[-2:]), False, tuple(m.crop))
        kernel, dilation = _two(m.kernel_size), _two(getattr(m, "dilation", 1))
        stride = _two(m.stride if m.stride is not None else m.kernel_size)
        if isinstance(m.padding, str):  # "valid" or "same" on a conv
            padding = (0, 0) if m.padding == "valid" else tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        else:
            padding = _two(m.padding)
        return cls(info.name, kernel, stride, padding, dilation, tuple(info.input_shape[-2:]), isinstance(m, nn.Conv2d))

    def geometry(self) -> tuple[int, ...]:
        """(kh, kw, sh, sw, ph, pw, dh, dw): a crop of (top, left) as kernel 1, stride 1, padding (-top, -left)."""
        padding = self.padding if self.crop is None else (-self.crop[0], -self.crop[2])
        return (*self.kernel, *self.stride, *padding, *self.dilation)


#: from this many output pixels per image on, the transposed convolution beats the strided adds (measured at
#: batch 32, one thread: 0.10 against 0.06 ms at 5 x 22, even at 14 x 47, 0.15 against 0.24 ms at 58 x 78)
TCONV_PIXELS = 600


def scale_up(m: torch.Tensor, step: Step) -> torch.Tensor:
    """Spread each cell of m (B x 1 x h x w) over the input pixels its kernel window covered: a transposed
    convolution with an all-ones kernel, the output cut to the layer's input size (rows and columns no
    window reached stay 0).

    The B one-channel maps run as ONE image of B channels through a grouped (depthwise) transposed
    convolution: oneDNN vectorises across the channels, where a one-channel transposed convolution runs
    2-9x slower than strided adds. Measured on CPU (batch 32, one thread): PilotNet's last scale-up to
    66 x 200 0.19 ms against 0.54 ms by strided adds, donkey's to 120 x 160 0.27 against 0.77 ms. The sums
    are the same up to their order (float rounding, 2e-7 of the map's scale). Small maps (below
    TCONV_PIXELS per image, where the convolution's fixed cost of ~0.1 ms dominates) and other dtypes take
    the strided adds."""
    if step.crop is not None:
        top, bottom, left, right = step.crop
        return F.pad(m, (left, right, top, bottom))  # the cropped-away border saw nothing
    (kh, kw), (sh, sw), (dh, dw), (ph, pw), (H, W) = step.kernel, step.stride, step.dilation, step.padding, step.in_size
    if m.dtype not in (torch.float32, torch.float64) or m.shape[1] != 1 or H * W < TCONV_PIXELS:
        return scale_up_by_adds(m, step)
    B, _, h, w = m.shape
    # the transposed conv's own output size, then what is missing (at most stride - 1: output_padding)
    # or too much (a ceil_mode pool: cut)
    size = ((h - 1) * sh - 2 * ph + dh * (kh - 1) + 1, (w - 1) * sw - 2 * pw + dw * (kw - 1) + 1)
    extra = (H - size[0], W - size[1])
    pad = tuple(min(max(e, 0), max(s, d) - 1) for e, s, d in zip(extra, (sh, sw), (dh, dw)))
    out = F.conv_transpose2d(m.reshape(1, B, h, w), m.new_ones((B, 1, kh, kw)), stride=(sh, sw),
                             padding=(ph, pw), output_padding=pad, groups=B, dilation=(dh, dw))
    out = out.reshape(B, 1, *out.shape[-2:])[..., :H, :W]
    if out.shape[-2:] != (H, W):
        out = F.pad(out, (0, W - out.shape[-1], 0, H - out.shape[-2]))  # rows no window reached stay 0
    return out


def scale_up_by_adds(m: torch.Tensor, step: Step) -> torch.Tensor:
    """scale_up as k strided adds along each axis (the all-ones kernel is separable): exactly the sums of
    the definition, in its order; any dtype."""
    (kh, kw), (sh, sw), (dh, dw) = step.kernel, step.stride, step.dilation
    B, C, h, w = m.shape
    rows = m.new_zeros((B, C, h, (w - 1) * sw + dw * (kw - 1) + 1))
    for b in range(kw):
        rows[..., b * dw: b * dw + (w - 1) * sw + 1: sw] += m
    full = m.new_zeros((B, C, (h - 1) * sh + dh * (kh - 1) + 1, rows.shape[-1]))
    for a in range(kh):
        full[..., a * dh: a * dh + (h - 1) * sh + 1: sh, :] += rows
    (H, W), (ph, pw) = step.in_size, step.padding
    out = full[..., ph:ph + H, pw:pw + W]
    return F.pad(out, (0, W - out.shape[-1], 0, H - out.shape[-2]))  # rows no window reached stay 0


def stage_mean(a: torch.Tensor) -> torch.Tensor:
    """B x C x h x w -> B x 1 x h x w, the mean over channels. (One matrix-vector product over a channels_last
    stage takes 0.65x the time alone and gained nothing inside the call, twice: bench/engine_proposals.py.)"""
    return a.mean(dim=1, keepdim=True)


@dataclass
class Plan:
    steps: list[Step]              # conv and pool layers from the input up to the deepest conv
    stages: list[tuple[nn.Module, str]]  # per conv in `steps`: where its post-activation map is read


def _stage_point(layers: list[LayerInfo], i: int) -> tuple[nn.Module, str]:
    """The post-activation output of conv layers[i]: the last element-wise layer right after it, else the
    input of the next layer when it has the conv's shape (a functional activation), else the conv."""
    j = i + 1
    while j < len(layers) and isinstance(layers[j].module, ELEMENTWISE) and layers[j].output_shape == layers[i].output_shape:
        j += 1
    if j > i + 1:
        return layers[j - 1].module, "output"
    if j < len(layers) and layers[j].input_shape == layers[i].output_shape:
        return layers[j].module, "input"
    return layers[i].module, "output"


def _is_crop(m: nn.Module) -> bool:
    crop = getattr(m, "crop", None)
    return isinstance(crop, tuple) and len(crop) == 4 and all(isinstance(v, int) for v in crop)


def make_plan(model: nn.Module, input_shape: tuple[int, ...]) -> Plan:
    layers = trace(model, input_shape)
    geo = [i for i, l in enumerate(layers) if isinstance(l.module, GEOMETRY) or _is_crop(l.module)]
    convs = [i for i in geo if isinstance(layers[i].module, nn.Conv2d)]
    if not convs:
        raise ValueError("visual_backprop needs Conv2d layers; the model has none:\n" + format_layers(layers))
    geo = [i for i in geo if i <= convs[-1]]
    if layers[geo[0]].input_shape[-2:] != tuple(input_shape[-2:]):
        raise ValueError(f"visual_backprop: the input is resized before the first conv/pool layer "
                         f"({layers[geo[0]].name!r} sees {layers[geo[0]].input_shape}); it cannot scale maps back")
    for a, b in zip(geo, geo[1:]):
        if layers[a].output_shape[-2:] != layers[b].input_shape[-2:]:
            raise ValueError(f"visual_backprop supports only conv, pooling and element-wise layers between conv stages; "
                             f"the size changes between {layers[a].name!r} and {layers[b].name!r}")
    return Plan([Step.of(layers[i]) for i in geo], [_stage_point(layers, i) for i in geo if i in convs])


@register
class VisualBackprop(Explainer):
    name = "visual_backprop"

    def __init__(self, model, layer=None, **options):
        super().__init__(model, layer, **options)
        self._plans: dict[tuple[int, ...], Plan] = {}

    @classmethod
    def compiled_kernels(cls) -> list:
        from ._compiled_spread import spread
        return [spread]

    def attribute(self, x, target, hooks):
        shape = tuple(x.shape[1:])
        if shape not in self._plans:
            self._plans[shape] = make_plan(self.model, shape)
        plan = self._plans[shape]
        means: dict[int, torch.Tensor] = {}
        for k, (module, where) in enumerate(plan.stages):
            if where == "output":
                hooks.forward(module, lambda _m, _i, out, k=k: keep_first(means, k, stage_mean(out)))
            else:
                hooks.forward_pre(module, lambda _m, inp, k=k: keep_first(means, k, stage_mean(inp[0])))
        with torch.no_grad():
            output = self.forward(x)
            raw = spread_back(plan, [means[k] for k in range(len(plan.stages))])
        return raw, output, plan.steps[-1].name   # the layer read comes back with the result


def spread_back(plan: Plan, means: list[torch.Tensor]) -> torch.Tensor:
    """The stage means (B x 1 x h x w each, shallowest first) spread back to the input, deepest first, each
    product with the stage below: B x H x W. On CPU in float32 or float64 one compiled pass per layer
    (methods/_compiled_spread.py), elsewhere torch's `scale_up`."""
    if _compiled_serves(means[0]):
        return _spread_back_compiled(plan, means)
    m = means[-1]
    for step, below in _down(plan, means):
        m = scale_up(m, step)
        if below is not None:
            m = m * below
    return m[:, 0]


def _down(plan: Plan, means: list):
    """(step, the stage mean its scale-up is multiplied with, or None), from the deepest step to the input."""
    stage = len(means) - 1
    for i in range(len(plan.steps) - 1, -1, -1):
        below = None
        if i > 0 and plan.steps[i - 1].is_conv:
            stage -= 1
            below = means[stage]
        yield plan.steps[i], below


def _compiled_serves(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def _spread_back_compiled(plan: Plan, means: list[torch.Tensor]) -> torch.Tensor:
    """spread_back on one thread (split over two threads it measured slower: 0.72 against 0.49 ms for
    PilotNet's batch of 32, right after the forward pass)."""
    from ._compiled_spread import spread  # numba: imported (and compiled, the first time) on first use

    planes = [np.ascontiguousarray(t[:, 0].numpy()) for t in means]
    m, nothing = planes[-1], np.empty((0, 0, 0), planes[0].dtype)
    for step, below in _down(plan, planes):
        out = np.empty((m.shape[0], *step.in_size), m.dtype)
        spread(m, nothing if below is None else below, out, *step.geometry())
        m = out
    return torch.from_numpy(m)
