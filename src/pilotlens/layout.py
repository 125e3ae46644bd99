"""The memory layout the explainers run a model's forward pass in: channels_last on CPU, where the model takes it.

oneDNN convolves a channels_last (NHWC) batch without reordering it to and from its blocked format at every
layer. Measured at batch 32 (bench/explain_speed.py prints both forwards): the shipped PilotNet's forward
takes 0.73-0.78x the time of the same forward on the usual NCHW batch, donkey's 0.78-0.83x. Every explainer
runs its forward passes through `arrange` (occlusion aside: its incremental passes are its own), so each
method gains the same.

Same model, different float rounding. Channels_last sums each conv in another order, so activations and
outputs differ from the NCHW forward's by rounding (PilotNet: 5e-7 at the output). Maps made from the
forward pass alone (VisualBackProp, activation maps, the Score-CAM family, RISE) are continuous in the
activations and move by rounding too; a map that sums terms which cancel amplifies it (Grad-CAM's weighted
channels: 5e-5 on one image of the speed bench's PilotNet batch). A gradient also depends on which ReLUs
are open, and a ReLU whose input lies within rounding of zero can decide the other way: on 512 frames of
the synthetic world, PilotNet's gradient map changed on one frame, by 3.4e-3 at most on the normalised
map, donkey's on none. Either decision is the model's gradient
to float precision; the NCHW one is what captum computes on the same NCHW batch. PILOTLENS_CHANNELS_LAST=0
runs the plain layout.

A model the layout cannot serve falls back to the plain forward: `decide` runs it both ways once per model and
input shape, before any explainer hook is on the model, and keeps channels_last only when that forward runs
and gives the same output to rounding. It refuses a model that calls `.view` on a conv's output (it raises on
a channels_last tensor), one whose code assumes contiguous NCHW memory (its output differs), and one that
cannot run twice the same (dropout left on, state). It runs only for 4-D floating-point batches on CPU.
"""
from __future__ import annotations

import os
import weakref

import torch
from torch import nn

from .model_io import model_output

ENV = "PILOTLENS_CHANNELS_LAST"
#: how close the two layouts' outputs must be: float32 rounding through a deep net, far below a real difference
RTOL, ATOL = 1e-4, 1e-5

# per model: {(C, H, W, dtype): whether its forward runs channels_last}; models are never kept alive by it.
# Process-wide on purpose: a verdict is a fact about the model's code at one input shape, costs two forward
# passes to learn, and must be the same for every explainer of the model (and for the bench's comparisons).
_verdicts: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, bool]]" = weakref.WeakKeyDictionary()


def _key(x: torch.Tensor) -> tuple:
    return (*x.shape[1:], x.dtype)


def _eligible(x: torch.Tensor) -> bool:
    return (x.device.type == "cpu" and x.dim() == 4 and x.is_floating_point()
            and os.environ.get(ENV, "1").strip() != "0")


def decide(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether `arrange` gives this model's batches of x's shape channels_last: asked once per model and shape,
    by running the model both ways (no grad) and comparing. Call it with no explainer hook on the model."""
    if not _eligible(x):
        return False
    known = _verdicts.setdefault(model, {})
    key = _key(x)
    if key not in known:
        known[key] = _probe(model, x)
    return known[key]


def _probe(model: nn.Module, x: torch.Tensor) -> bool:
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return False  # nothing to gain
    with torch.no_grad():
        try:  # the plain forward on NCHW memory, whatever layout the batch came in (Pilot.prepare's is channels_last)
            plain = model_output(model(x.contiguous()))
        except Exception:  # noqa: BLE001 - the plain forward's own error is the explainer's to report
            return False
        try:
            fast = model_output(model(x.contiguous(memory_format=torch.channels_last)))
        except Exception:  # noqa: BLE001 - whatever the model does with an NHWC batch, the plain one serves
            return False
    if fast.shape != plain.shape or fast.dtype != plain.dtype:
        return False
    finite = plain[torch.isfinite(plain)]
    scale = float(finite.abs().max()) if finite.numel() else 0.0
    return bool(torch.allclose(fast, plain, rtol=RTOL, atol=ATOL * max(scale, 1.0), equal_nan=True))


def arrange(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x in the layout `decide` chose for this model and shape (channels_last or as given); a shape not
    decided yet runs as given. Differentiable: a gradient reaches x as for x itself."""
    if not _eligible(x) or not _verdicts.get(model, {}).get(_key(x), False):
        return x
    return x.contiguous(memory_format=torch.channels_last)
