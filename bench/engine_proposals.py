"""Engine changes proposed for speed, measured against the engine as it is, in one run.

    python bench/engine_proposals.py --threads 1                 # shipped PilotNet, batch 32
    python bench/engine_proposals.py --models pilotnet donkey --threads 1 2 --repeats 15

Each proposal is applied by patching the engine in this process only (nothing under src/ changes), and
every variant runs interleaved with the others and with the forward pass on both layouts (NCHW and
channels_last), as in explain_speed.py; ratios are to the faster of the two.
Before timing, each variant's maps are compared with the current engine's (max |Δmap|).

Adopted and folded into the library: the input gradient of a strided conv with few input channels
computed by forward convolutions (methods/_fast_input_grad.py), and forward passes on a channels_last batch
where the model takes it (layout.py). What is left to measure:

  plain      the engine without that fast backward: what it buys.
  nchw       the engine on the batch as given (PILOTLENS_CHANNELS_LAST=0): what the layout buys. Its
             gradient maps can differ from the current engine's where a ReLU sits within rounding of zero.
  all        the fast backward for every strided conv, whatever its input channels (the library stops at
             MAX_IN_CHANNELS = 4: from about 24 channels on oneDNN's own backward is as fast or faster).
  tconv      every other strided conv (more input channels) backpropagates by conv_transpose2d on channels_last
             copies of the output gradient and the weight, the result made contiguous again. Alone, per layer,
             that is 10-25 % faster than oneDNN's own backward-data at PilotNet's and donkey's second and third
             convs, and the same to the bit; inside the whole backward, with the copies, it measured at
             0.93-1.28x the current engine's speed (median 1.00-1.02x in most cells: noise), so not adopted.

Issue 23's changes, each undone alone (what it buys), and one that was tried and not kept:

  adds       VisualBackProp's scale-ups by k strided adds per axis (before: the grouped transposed convolution
             of methods/visual_backprop.py).
  matvec     VisualBackProp's stage means of a channels_last stage as one matrix-vector product: 0.65x the
             time of mean(dim=1) alone, no gain inside the call (measured twice, in two sessions): not kept.
  nchw_shuffle  the first conv's input gradient shuffled into NCHW memory and the gradient methods' channel
             max by abs().amax(dim=1) (before: channels_last memory, the max channel by channel).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import explain_speed as es  # noqa: E402

import pilotlens  # noqa: E402
import pilotlens.layout  # noqa: E402
from pilotlens.methods import _fast_input_grad as fast  # noqa: E402

vbp = importlib.import_module("pilotlens.methods.visual_backprop")
gradient_modules = [importlib.import_module(f"pilotlens.methods.{m}")
                    for m in ("gradient", "guided_backprop", "guided_grad_cam")]
CURRENT_LIMIT = fast.MAX_IN_CHANNELS
CURRENT_GRAD = fast.conv_input_grad
CURRENT_SCALE_UP = vbp.scale_up
CURRENT_CHANNEL_MAX = gradient_modules[0].channel_max_abs
CURRENT_STAGE_MEAN = vbp.stage_mean


def input_grad_nchw(g, weight, stride, padding, in_size):
    """The library's input gradient, copied into NCHW memory (the shuffle's old output layout)."""
    return CURRENT_GRAD(g, weight, stride, padding, in_size).contiguous()


def channel_max_amax(grad):
    return grad.abs().amax(dim=1)


def scale_up_adds(m, step):
    return CURRENT_SCALE_UP(m, step) if step.crop is not None else vbp.scale_up_by_adds(m, step)


def mean_matvec(a):
    if a.dim() == 4 and a.is_contiguous(memory_format=torch.channels_last) and not a.is_contiguous():
        return torch.matmul(a.permute(0, 2, 3, 1), a.new_full((a.shape[1],), 1 / a.shape[1])).unsqueeze(1)
    return a.mean(dim=1, keepdim=True)


def input_grad_tconv(g, weight, stride, padding, in_size):
    """The library's phase trick for few input channels, else a channels_last conv_transpose2d."""
    if weight.shape[1] <= CURRENT_LIMIT:
        return CURRENT_GRAD(g, weight, stride, padding, in_size)
    (kh, kw), (ho, wo) = weight.shape[-2:], g.shape[-2:]
    extra = tuple(n - ((o - 1) * s - 2 * p + k) for n, o, s, p, k in zip(in_size, (ho, wo), stride, padding, (kh, kw)))
    cl = torch.channels_last
    return torch.nn.functional.conv_transpose2d(g.contiguous(memory_format=cl), weight.contiguous(memory_format=cl),
                                                None, stride, padding, extra).contiguous()


#: variant -> (which strided convs take the custom backward: input channels up to, PILOTLENS_CHANNELS_LAST,
#: that backward, VisualBackProp's scale-up, the gradient methods' channel max)
VARIANTS = {
    "current": (CURRENT_LIMIT, "1", CURRENT_GRAD, CURRENT_SCALE_UP, CURRENT_CHANNEL_MAX),
    "plain": (0, "1", CURRENT_GRAD, CURRENT_SCALE_UP, CURRENT_CHANNEL_MAX),
    "nchw": (CURRENT_LIMIT, "0", CURRENT_GRAD, CURRENT_SCALE_UP, CURRENT_CHANNEL_MAX),
    "all": (10 ** 9, "1", CURRENT_GRAD, CURRENT_SCALE_UP, CURRENT_CHANNEL_MAX),
    "tconv": (10 ** 9, "1", input_grad_tconv, CURRENT_SCALE_UP, CURRENT_CHANNEL_MAX),
    "adds": (CURRENT_LIMIT, "1", CURRENT_GRAD, scale_up_adds, CURRENT_CHANNEL_MAX),
    "matvec": (CURRENT_LIMIT, "1", CURRENT_GRAD, CURRENT_SCALE_UP, CURRENT_CHANNEL_MAX),  # + mean_matvec
    "nchw_shuffle": (CURRENT_LIMIT, "1", input_grad_nchw, CURRENT_SCALE_UP, channel_max_amax),
}
GRADIENT_METHODS = {"gradient", "guided_backprop", "integrated_gradients", "smoothgrad", "guided_grad_cam"}
VBP_VARIANTS = {"adds", "matvec"}


def applies(variant: str, method: str) -> bool:
    """The backward variants change only the gradient path, the VisualBackProp ones only that method: other
    methods would time the same code twice."""
    if variant in VBP_VARIANTS:
        return method == "visual_backprop"
    return method in GRADIENT_METHODS or variant in ("current", "nchw")


def use(variant: str) -> None:
    (fast.MAX_IN_CHANNELS, os.environ[pilotlens.layout.ENV], fast.conv_input_grad, vbp.scale_up,
     channel_max) = VARIANTS[variant]
    for module in gradient_modules:
        module.channel_max_abs = channel_max
    vbp.stage_mean = mean_matvec if variant == "matvec" else CURRENT_STAGE_MEAN


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, nargs="+", default=[32])
    p.add_argument("--models", nargs="+", choices=list(es.MODELS), default=["pilotnet"])
    p.add_argument("--methods", nargs="+", default=["visual_backprop", "grad_cam", "gradient", "guided_backprop"])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--repeats", type=int, default=12)
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--clock", choices=["wall", "thread"], default="wall",
                   help="thread: this thread's CPU time, robust on a shared machine (forces --threads 1)")
    args = p.parse_args(argv)
    if args.clock == "thread":
        es.CLOCK, args.threads = time.thread_time, [1]
    allocator = es.steady_allocator()
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"engine proposals — {es.machine()}; {allocator}; load average {es.load()}")
        es.warn_contention()
        for b in es.benches(args.models):
            for batch in args.batch:
                x = b.batch(batch)
                pilotlens.layout.decide(b.model, x)
                # every variant gets the batch the fastest forward runs (as Pilot.prepare makes it), but `nchw`,
                # whose point is the batch as given
                x_cl = pilotlens.layout.arrange(b.model, x)
                cases = []
                for method in args.methods:
                    ex = pilotlens.explainer(b.model, method)
                    use("current")
                    ref = ex(x_cl, target=0)
                    for variant in args.variants:
                        if not applies(variant, method):
                            continue

                        def run(ex=ex, variant=variant, xin=x if variant == "nchw" else x_cl):
                            use(variant)
                            try:
                                return ex(xin, target=0).maps
                            finally:
                                use("current")
                        c = es.Case(method, variant, run, label=variant)
                        c.diff = float((run() - ref.maps).abs().max())
                        cases.append(c)
                forwards = [es.Case("forward NCHW", "forward", lambda m=b.model, x=x: es._forward(m, x)),
                            es.Case("forward channels_last", "forward", lambda m=b.model: es._forward(m, x_cl))]
                es.measure(cases, forwards, args.repeats, args.repeats, float("inf"), 3, 0.03)
                fastest = es.med([ms for c in cases for ms in c.fastest])
                print(f"\n== {b.name} {'x'.join(map(str, b.shape))}, batch {batch}, {threads} thread(s) "
                      f"(fastest forward {fastest:.1f} ms; load {es.load()})")
                print(f"{'method':<18}{'variant':<20}{'ms':>9}{'× fastest fwd':>14}  {'[p25–p75]':<13}{'vs current':>11}"
                      f"{'max |Δmap|':>12}")
                for f in forwards:
                    lo, hi = es.quartiles(f.ratios)
                    print(f"{f.method:<38}{es.med(f.ms):9.1f}{es.med(f.ratios):14.2f}  [{lo:.2f}–{hi:.2f}]")
                now = {c.method: es.med(c.ratios) for c in cases if c.library == "current"}
                for c in cases:
                    lo, hi = es.quartiles(c.ratios)
                    r = es.med(c.ratios)
                    print(f"{c.method:<18}{c.library:<20}{es.med(c.ms):9.1f}{r:14.2f}  [{lo:.2f}–{hi:.2f}]  "
                          f"{now[c.method] / r:10.2f}×{c.diff:12.0e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
