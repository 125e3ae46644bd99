"""Engine changes proposed for speed, measured against the engine as it is, in one run.

    python bench/engine_proposals.py --threads 1                 # PilotNet, batch 32
    python bench/engine_proposals.py --models pilotnet donkey --batch 1 32 --repeats 15

Each proposal is applied by patching the engine in this process only (nothing under src/ changes), and
every variant runs interleaved with the others and with the plain forward pass, as in explain_speed.py.
Before timing, each variant's maps are checked against the current engine's.

Proposals:
  normalize  saliency.normalize with amin/amax (no indices) and in-place sub/div instead of min/max and
             torch.where over the whole map: the same values, bit for bit; a third of the time.
  stem       the input gradient of a strided first convolution (<= 4 input channels: RGB, YUV, gray,
             RGBD) computed as one stride-1 convolution + a depth-to-space shuffle instead of oneDNN's
             backward-data, which is 3-4x slower than the forward conv for so few channels. Same values to
             float rounding; every gradient method gains (gradient, guided_backprop, integrated_gradients,
             smoothgrad, guided_grad_cam).
  cl         the engine runs the model on a channels_last copy of the input (every method). The plain
             forward pass gets faster too (the `forward, channels_last` row says by how much), and
             PyTorch's CPU conv backward copies every activation to channels_last anyway. Not safe as is:
             a model that calls .view on an activation fails on channels_last tensors, so the engine
             would need a fallback (retry contiguous) or an option.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import explain_speed as es  # noqa: E402

import pilotlens  # noqa: E402
from pilotlens.hooks import HookSet  # noqa: E402

base = importlib.import_module("pilotlens.methods.base")
CURRENT_NORMALIZE = base.normalize
CURRENT_INPUT_GRADIENT = base.Explainer.input_gradient


# -- proposal: normalize ---------------------------------------------------------------------------
def normalize(raw: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each image of a B x H x W batch to [0, 1]; a flat map becomes all zeros."""
    flat = raw.reshape(raw.shape[0], -1)
    lo = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - lo
    span = torch.where(span > 0, span, torch.full_like(span, float("inf")))  # flat: (x - lo) / inf = 0
    return flat.sub(lo).div_(span).reshape(raw.shape)


# -- proposal: stem ----------------------------------------------------------------------------------
def conv_input_grad(g: torch.Tensor, weight: torch.Tensor, stride, padding, in_size) -> torch.Tensor:
    """d conv2d(x, weight, stride, padding) / dx applied to g (dilation 1, groups 1), B x C x H x W.

    Output pixel (i*s + a, j*s + b) only meets kernel taps (a + s*p, b + s*q): one stride-1 convolution
    of g with the flipped sub-kernels of every phase (a, b) as its C*s*s output channels, then a
    depth-to-space shuffle, gives the transposed convolution."""
    O, C, kh, kw = weight.shape
    (sh, sw), (ph, pw), (H, W) = stride, padding, in_size
    th, tw = -(-kh // sh), -(-kw // sw)                      # taps per phase
    wp = weight.new_zeros(O, C, sh * th, sw * tw)
    wp[:, :, :kh, :kw] = weight
    wp = wp.view(O, C, th, sh, tw, sw).permute(1, 3, 5, 0, 2, 4).flip(-2, -1).reshape(C * sh * sw, O, th, tw)
    r = F.conv2d(g, wp, padding=(th - 1, tw - 1))
    B, _, hr, wr = r.shape
    full = r.view(B, C, sh, sw, hr, wr).permute(0, 1, 4, 2, 5, 3).reshape(B, C, hr * sh, wr * sw)
    out = full[..., ph:ph + H, pw:pw + W]
    if out.shape[-2:] != (H, W):  # rows and columns no window reached get no gradient
        out = F.pad(out, (0, W - out.shape[-1], 0, H - out.shape[-2]))
    return out


class _StemConvGrad(torch.autograd.Function):
    """Identity on a conv's output; backward gives the conv's input gradient by conv_input_grad."""

    @staticmethod
    def forward(ctx, x, out, weight, stride, padding):
        ctx.weight, ctx.stride, ctx.padding, ctx.size = weight, stride, padding, tuple(x.shape[-2:])
        return out.detach()  # not a view: an in-place activation after the conv (ReLU(inplace=True)) stays legal

    @staticmethod
    def backward(ctx, g):
        return conv_input_grad(g.contiguous(), ctx.weight, ctx.stride, ctx.padding, ctx.size), None, None, None, None


def is_stem(m: nn.Module) -> bool:
    return (isinstance(m, nn.Conv2d) and m.groups == 1 and tuple(m.dilation) == (1, 1) and max(m.stride) > 1
            and m.in_channels <= 4 and not isinstance(m.padding, str) and m.padding_mode == "zeros")


def _stem_hook(module, inputs, out):
    x = inputs[0]
    if not (torch.is_grad_enabled() and x.requires_grad and x.device.type == "cpu"):
        return None
    return _StemConvGrad.apply(x, out.detach(), module.weight.detach(), tuple(module.stride), tuple(module.padding))


def input_gradient_stem(self, x, spec, target=None):
    with HookSet() as hooks:
        for m in self.model.modules():
            if is_stem(m):
                hooks.forward(m, _stem_hook)
        return CURRENT_INPUT_GRADIENT(self, x, spec, target)


# -- proposal: cl ------------------------------------------------------------------------------------
CURRENT_CHECK_INPUT = base.Explainer._check_input


def check_input_cl(self, x):
    """The engine's input, as a channels_last copy: oneDNN's convolutions (and their backward, which
    otherwise copies every activation to channels_last and back) run faster on it."""
    return CURRENT_CHECK_INPUT(self, x).contiguous(memory_format=torch.channels_last)


# -- variants -----------------------------------------------------------------------------------------
#: variant -> (normalize, input_gradient, _check_input)
VARIANTS: dict[str, tuple[Callable, Callable, Callable]] = {
    "current": (CURRENT_NORMALIZE, CURRENT_INPUT_GRADIENT, CURRENT_CHECK_INPUT),
    "normalize": (normalize, CURRENT_INPUT_GRADIENT, CURRENT_CHECK_INPUT),
    "stem": (CURRENT_NORMALIZE, input_gradient_stem, CURRENT_CHECK_INPUT),
    "cl": (CURRENT_NORMALIZE, CURRENT_INPUT_GRADIENT, check_input_cl),
    "normalize+stem": (normalize, input_gradient_stem, CURRENT_CHECK_INPUT),
    "normalize+stem+cl": (normalize, input_gradient_stem, check_input_cl),
}
GRADIENT_METHODS = {"gradient", "guided_backprop", "integrated_gradients", "smoothgrad", "guided_grad_cam"}


def applies(variant: str, method: str) -> bool:
    """stem changes only the gradient path: other methods would time the same code twice."""
    return method in GRADIENT_METHODS or "stem" not in variant


def use(variant: str) -> None:
    base.normalize, base.Explainer.input_gradient, base.Explainer._check_input = VARIANTS[variant]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[32])
    p.add_argument("--models", nargs="+", choices=list(es.MODELS), default=["pilotnet"])
    p.add_argument("--methods", nargs="+", default=["visual_backprop", "grad_cam", "gradient", "guided_backprop"])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=12)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"engine proposals — {es.machine()}; load average {es.load()}")
    es.warn_contention()
    # the normalize proposal gives the same values bit for bit, flat maps included
    raw = torch.randn(6, 33, 47)
    raw[2] = 1.5
    assert torch.equal(normalize(raw), CURRENT_NORMALIZE(raw)), "normalize proposal differs"
    for b in es.benches(args.models):
        for batch in args.batch:
            x = b.batch(batch)
            cases = []
            for method in args.methods:
                ex = pilotlens.explainer(b.model, method)
                use("current")
                ref = ex(x, target=0)
                for variant in args.variants:
                    if not applies(variant, method):
                        continue

                    def run(ex=ex, variant=variant):
                        use(variant)
                        try:
                            return ex(x, target=0).maps
                        finally:
                            use("current")
                    c = es.Case(method, variant, run, label=variant)
                    maps = run()
                    c.diff = float((maps - ref.maps).abs().max())
                    cases.append(c)
            if any("cl" in v for v in args.variants):
                x_cl = x.contiguous(memory_format=torch.channels_last)
                c = es.Case("forward", "channels_last", lambda m=b.model: es._forward(m, x_cl))
                c.diff = 0.0
                cases.insert(0, c)
            forward = es.Case("forward", "forward", lambda m=b.model, x=x: es._forward(m, x))
            es.measure(cases, forward, args.repeats, args.repeats, float("inf"), 3, 0.03)
            print(f"\n== {b.name} {'x'.join(map(str, b.shape))}, batch {batch} (forward {es.med(forward.ms):.1f} ms)")
            print(f"{'method':<18}{'variant':<20}{'ms':>9}{'× fwd':>8}  {'[p25–p75]':<13}{'vs current':>11}{'max |Δmap|':>12}")
            now = {c.method: es.med(c.ratios) for c in cases if c.library == "current"} | {"forward": 1.0}
            for c in cases:
                lo, hi = es.quartiles(c.ratios)
                r = es.med(c.ratios)
                print(f"{c.method:<18}{c.library:<20}{es.med(c.ms):9.1f}{r:8.2f}  [{lo:.2f}–{hi:.2f}]  "
                      f"{now[c.method] / r:10.2f}×{c.diff:12.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
