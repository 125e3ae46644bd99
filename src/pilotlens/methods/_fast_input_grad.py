"""A faster d score / d x on CPU for every gradient method (gradient, guided backprop, integrated
gradients, smoothgrad, guided Grad-CAM): the same gradient to float rounding, the forward pass untouched.

oneDNN's backward-data of a strided convolution with few input channels (the first layer of a driving
CNN: RGB, YUV or gray) is 2-4x slower than the convolution itself. Output pixel (i*s + a, j*s + b) of the
input gradient only meets the kernel taps (a + s*p, b + s*q), so the whole input gradient is one
stride-1 convolution of the output gradient with the flipped sub-kernels of each phase (a, b) as C*s*s
output channels, then a depth-to-space shuffle; it runs channels_last, oneDNN's fastest layout. Measured
per layer (bench/engine_proposals.py): about half the time for 3 input channels, slower from about 24
channels on, hence the limit MAX_IN_CHANNELS. The rest of the model runs in the layout layout.py chose.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import HookSet

#: above this many input channels oneDNN's own backward is as fast (measured on PilotNet's and donkey's layers)
MAX_IN_CHANNELS = 4


def conv_input_grad(g: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], padding: tuple[int, int],
                    in_size: tuple[int, int]) -> torch.Tensor:
    """d conv2d(x, weight, stride=stride, padding=padding) / dx applied to g (dilation 1, groups 1): B x C x H x W,
    channels_last in memory."""
    O, C, kh, kw = weight.shape
    (sh, sw), (ph, pw), (H, W) = stride, padding, in_size
    th, tw = -(-kh // sh), -(-kw // sw)                  # taps per phase
    wp = weight.new_zeros(O, C, sh * th, sw * tw)
    wp[:, :, :kh, :kw] = weight
    # output channel (a, b, c), c fastest: tap (p, q) of phase (a, b) = weight[o, c, a + s*p, b + s*q], flipped
    # for the transpose
    wp = wp.view(O, C, th, sh, tw, sw).permute(3, 5, 1, 0, 2, 4).flip(-2, -1).reshape(sh * sw * C, O, th, tw)
    r = F.conv2d(g.contiguous(memory_format=torch.channels_last), wp, padding=(th - 1, tw - 1))
    B, _, hr, wr = r.shape
    # depth to space. r's memory runs (B, hr, wr, a, b, c); the input gradient's channels_last memory runs
    # (B, hr, a, wr, b, c): one copy that moves whole (b, c) blocks. Shuffling into NCHW instead moved single
    # floats and cost 1.6 ms on PilotNet's batch of 32, a fifth of the first conv's whole input gradient.
    full = (r.permute(0, 2, 3, 1).reshape(B, hr, wr, sh, sw * C).transpose(2, 3)
            .reshape(B, hr * sh, wr * sw, C).permute(0, 3, 1, 2))
    out = full[..., ph:ph + H, pw:pw + W]
    if out.shape[-2:] != (H, W):  # rows and columns past the last window get no gradient
        out = F.pad(out, (0, W - out.shape[-1], 0, H - out.shape[-2]))
    return out


class _ConvInputGrad(torch.autograd.Function):
    """Identity on a conv's output, wired to the conv's input: its backward is conv_input_grad."""

    @staticmethod
    def forward(ctx, x, out, weight, stride, padding):
        ctx.weight, ctx.stride, ctx.padding, ctx.size = weight, stride, padding, tuple(x.shape[-2:])
        # `out` is a fresh detached alias of the conv's output: marked dirty, it becomes this node's output
        # without a copy, and an in-place activation after the conv (ReLU(inplace=True)) stays legal
        ctx.mark_dirty(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return conv_input_grad(g, ctx.weight, ctx.stride, ctx.padding, ctx.size), None, None, None, None


def plain_conv(m: nn.Module) -> bool:
    """A Conv2d whose input gradient conv_input_grad computes: no dilation, no groups, numeric zero padding."""
    return (isinstance(m, nn.Conv2d) and m.groups == 1 and tuple(m.dilation) == (1, 1)
            and not isinstance(m.padding, str) and m.padding_mode == "zeros")


def takes_fast_backward(m: nn.Module) -> bool:
    """A plain strided Conv2d with few input channels: its backward-data is slow and conv_input_grad computes
    it (a subclass may change forward, so it is refused)."""
    return type(m) is nn.Conv2d and plain_conv(m) and m.in_channels <= MAX_IN_CHANNELS and max(m.stride) > 1


def input_grad(module: nn.Conv2d, g: torch.Tensor, weight: torch.Tensor, shape) -> torch.Tensor:
    """d conv(x, weight) / dx applied to g, for a conv with numeric padding and x of `shape` (outside autograd):
    by forward convolutions where the conv takes the fast backward, else oneDNN's own backward."""
    if takes_fast_backward(module) and g.device.type == "cpu":
        return conv_input_grad(g, weight, tuple(module.stride), tuple(module.padding), tuple(shape[-2:]))
    # aten's backward with an input of g's layout (only its shape and layout are read): torch.nn.grad.conv2d_input
    # hands it an expanded, layout-less tensor, and oneDNN then runs NCHW (donkey's conv2, batch 32, one
    # thread: 27-31 against 17 ms)
    layout = torch.channels_last if g.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    like = torch.empty(tuple(shape), dtype=g.dtype, device=g.device, memory_format=layout)
    return torch.ops.aten.convolution_backward(g, like, weight, None, tuple(module.stride), tuple(module.padding),
                                               tuple(module.dilation), False, (0, 0), module.groups,
                                               (True, False, False))[0]


def _fast_backward_hook(module: nn.Module, inputs, out):
    x = inputs[0]
    if not (torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad and x.device.type == "cpu"
            and isinstance(out, torch.Tensor) and x.dim() == 4):
        return None
    return _ConvInputGrad.apply(x, out.detach(), module.weight.detach(), tuple(module.stride), tuple(module.padding))


def fast_convs(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if takes_fast_backward(m)]


def prepare(model: nn.Module, x: torch.Tensor, hooks: HookSet) -> torch.Tensor:
    """Hook the convs that take the fast backward (for the life of `hooks`); returns x, unchanged."""
    if x.device.type == "cpu":
        for m in fast_convs(model):
            hooks.forward(m, _fast_backward_hook)
    return x
