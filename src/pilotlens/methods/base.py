"""The Explainer template every method subclasses, and the registry that names methods by string.

A method implements `attribute(x, target, hooks) -> (raw B x H x W, output B x K)`; the base checks
the input, runs it in eval mode with grad enabled, releases every hook (even on an exception),
normalises the map and packs the Saliency.
"""
from __future__ import annotations

import copy
import functools
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from ..hooks import HookSet, capture, eval_mode
from ..layers import LayerSpec, find_layer
from ..layout import arrange, decide
from ..model_io import check_input, device_of, model_output
from ..saliency import Saliency, finite_maps, nonfinite_rows, normalize
from ..targets import Target, TargetSpec, chosen_target, freeze, parse_target, score
from .options import check_options

# name -> method class, filled by `register` as each method module is imported (methods/__init__.py imports
# them all): a method is one file that names itself, and no list elsewhere can fall out of step with the files.
REGISTRY: dict[str, type["Explainer"]] = {}


def register(cls: type["Explainer"]) -> type["Explainer"]:
    REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type["Explainer"]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; methods: {', '.join(sorted(REGISTRY))}") from None


class Explainer:
    """One attribution method bound to a model (and, for layer methods, a layer).

    `explainer(x, target=None) -> Saliency` for a batch x (B x C x H x W). Usable as a context manager;
    no hook stays on the model between calls.
    """

    name = ""
    uses_layer = False   # True for methods that read a conv layer (grad_cam, cam, activation, ...)
    signed = False       # True when the raw map's sign means something (evidence for vs against)
    signed_option: str | None = None   # or the boolean option that makes it signed (grad_cam's signed=true)
    costly = False       # True for methods that pay tens to thousands of passes per image (left out of
                         # `evaluate`'s default set; named with --method they run as any other)
    channels_last = True  # forward passes run in layout.arrange's layout (False: a method that runs passes of its own)
    defaults: dict[str, Any] = {}
    # the types an option takes, where its default does not say (several types, or None allowed)
    option_types: dict[str, tuple[type, ...]] = {}

    def __init__(self, model: nn.Module, layer: LayerSpec = None, **options: Any):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
        check_layer(type(self), layer)
        self.model = model
        self.options = typed_options(type(self), options)
        self._layer_spec = layer
        self.layer_name: str | None = None
        self.layer: nn.Module | None = None
        if self.uses_layer and not _is_index(layer):
            self.layer_name, self.layer = find_layer(model, layer)
        self.check_options()

    # -- what a method provides ------------------------------------------------------------------
    def check_options(self) -> None:
        """Validate self.options; raise ValueError naming the bad one."""

    def attribute(self, x: torch.Tensor, target: Target | None, hooks: HookSet) -> tuple[torch.Tensor, ...]:
        """(raw B x H x W, output B x K), or (raw, output, layer) where the layer a method read is only
        known once it ran (visual_backprop's stages): the Saliency reports it, nothing is stored."""
        raise NotImplementedError

    def finish(self, raw: torch.Tensor, limits: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """raw -> maps in [0, 1]; min-max per image unless a method says otherwise. `limits`: each image's
        (min, max) of raw when already known (saliency.bounds)."""
        return normalize(raw, limits)

    @classmethod
    def compiled_kernels(cls) -> list:
        """The numba kernels a call may compile on its first run in an environment (importing numba), for a
        command to say so before it pauses (compiled.pending); none for most methods."""
        return []

    def is_signed(self) -> bool:
        """Whether this explainer's raw maps carry a sign (drawn with a diverging colour map)."""
        return self.signed or (self.signed_option is not None and bool(self.options[self.signed_option]))

    # -- the call --------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor, target: TargetSpec = None) -> Saliency:
        """Explain the batch x for `target` (see targets.parse_target; None: the model's default).

        The map of an image whose model output or input is not finite is all zeros, never NaN:
        `Saliency.nonfinite` lists those images and a warning names them."""
        x = self._check_input(x)
        x_bad = nonfinite_rows(x)  # now, while x is in the cache: the forward pass then reads it warm
        spec = parse_target(target)
        bound = self._for_shape(tuple(x.shape[1:]))
        with HookSet() as hooks, _eval(self.model), torch.enable_grad():
            if self.channels_last:
                decide(self.model, x)  # before any hook is on the model: it runs the model both ways once
            raw, output, *read = bound.attribute(x, spec, hooks)
        raw, output = raw.detach().float(), output.detach()
        layer = read[0] if read else bound.layer_name
        label = repr(chosen_target(spec, output))
        maps, raw, bad = finite_maps(self.finish, raw, x_bad, output, self.name)
        return Saliency(maps=maps, raw=raw, output=output, method=self.name, layer=layer,
                        target=label, signed=self.is_signed(), nonfinite=bad)

    def _for_shape(self, input_shape: tuple[int, ...]) -> "Explainer":
        """This explainer with its layer resolved for inputs of `input_shape`: itself when the layer was found
        at construction; for a layer index (which needs the input's shape to trace the model), a copy that
        holds the layer for this call only, so the explainer never changes between calls."""
        if not self.uses_layer or self.layer is not None:
            return self
        bound = copy.copy(self)
        bound.layer_name, bound.layer = find_layer(self.model, self._layer_spec, input_shape)
        return bound

    def close(self) -> None:
        """Nothing stays hooked between calls; close() only drops the model reference."""
        self.model = None  # type: ignore[assignment]

    def __enter__(self) -> "Explainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers shared by the methods ------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    def _check_input(self, x: Any) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError(f"this {self.name} explainer is closed")
        return check_input(self.model, x)

    def _laid_out(self, x: torch.Tensor) -> torch.Tensor:
        """x in the layout this explainer's forward passes run in (layout.py; as given for a method that opts out)."""
        return arrange(self.model, x) if self.channels_last else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output as B x K, with a clear error when the model rejects x. The pass runs in the
        layout layout.py chose for the model (channels_last on CPU where the model takes it)."""
        try:
            out = self.model(self._laid_out(x))
        except RuntimeError as exc:
            raise ValueError(f"the model rejected an input of shape {tuple(x.shape)}: {exc}") from exc
        return model_output(out)

    def fixed_target(self, spec: Target | None, output: torch.Tensor) -> Target:
        """The target for this batch, its choices frozen on the clean output (targets.freeze)."""
        return freeze(spec, output)

    def input_gradient(self, x: torch.Tensor, spec: Target | None, target: Target | None = None):
        """d score / d x for the batch: (gradient B x C x H x W, output, fixed target).

        On CPU, strided convs with few input channels backpropagate by forward convolutions
        (methods/_fast_input_grad.py), and the batch is arranged as the forward pass runs it (layout.py),
        so the whole backward runs in that layout."""
        from ._fast_input_grad import prepare  # here, not at the top: only this body is the fast path's

        with HookSet() as fast:
            xg = prepare(self.model, self._laid_out(x.detach()), fast).requires_grad_(True)
            output = self.forward(xg)
            if target is None:
                target = self.fixed_target(spec, output)
            (grad,) = torch.autograd.grad(score(target, output).sum(), xg)
        return grad, output, target

    def capture_layers(self, x: torch.Tensor, hooks: HookSet, layers: list[tuple[str, nn.Module]],
                       with_grad: bool = True) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Run x once and return ([A per layer], output), as hooks.capture: with `with_grad` only the part of
        the model after the first of the layers records a graph, and each A can take the target's gradient."""
        return capture(hooks, layers, lambda: self.forward(x), self.name, with_grad)

    def capture_layer(self, x: torch.Tensor, hooks: HookSet, with_grad: bool = True):
        """Run x and return (this explainer's layer activation A, output); with `with_grad` A is a leaf."""
        (act,), output = self.capture_layers(x, hooks, [(self.layer_name, self.layer)], with_grad)
        return act, output


def _is_index(layer: LayerSpec) -> bool:
    return isinstance(layer, int) and not isinstance(layer, bool)


def check_layer(cls: type[Explainer], layer: LayerSpec) -> None:
    """A layer given to a method that reads none is refused, naming what the method takes instead."""
    if layer is None or cls.uses_layer:
        return
    if "layers" in cls.defaults:
        raise ValueError(f"{cls.name} takes layers=[...] (several layers), not layer=")
    raise ValueError(f"{cls.name} attributes to the input and takes no layer")


def typed_options(cls: type[Explainer], given: dict[str, Any]) -> dict[str, Any]:
    """The method's full options, `given` checked and converted to their types (methods/options.py)."""
    return check_options(cls.name, cls.defaults, cls.option_types, given)


def _eval(model: nn.Module):
    """eval_mode(model), skipped when no module is training (the usual case: setting and restoring every
    module's flag costs about 0.3 ms a call on a 20-layer model, a tenth of PilotNet's forward at batch 1)."""
    return eval_mode(model) if any(m.training for m in model.modules()) else nullcontext()


def channel_max_abs(grad: torch.Tensor) -> torch.Tensor:
    """B x C x H x W -> B x H x W, the largest |value| over the channels (the gradient methods' map).

    The input gradient comes back channels_last (methods/_fast_input_grad.py, layout.py), where `amax(dim=1)`
    reduces 3 side-by-side floats at a time: 1.35 ms on PilotNet's batch of 32, against 0.50 ms for the
    same maxima taken channel by channel (exact either way; NaN propagates in both)."""
    if (grad.dim() == 4 and 1 < grad.shape[1] <= 4 and grad.device.type == "cpu"
            and grad.is_contiguous(memory_format=torch.channels_last) and not grad.is_contiguous()):
        first, *rest = grad.unbind(1)
        out = first.abs()
        for c in rest:
            torch.maximum(out, c.abs(), out=out)
        return out
    return grad.abs().amax(dim=1)


def upsample(maps: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """B x h x w -> B x H x W (bilinear, align_corners=False, as captum and the Grad-CAM papers).

    Bilinear and bicubic resizing are separable: H x h weights down the rows, w x W across the columns.
    A small map (a conv layer's) is resized on CPU as two matrix products with those weights, taken from
    F.interpolate itself: the same map to float rounding, 4-7x faster for bilinear and 10-30x for bicubic
    than F.interpolate on a one-channel batch (PilotNet's 1 x 18 Grad-CAM map to 66 x 200, batch 32:
    0.2 ms instead of 1.3 ms; bicubic 0.2 ms instead of 7 ms)."""
    (h, w), (H, W) = maps.shape[-2:], size
    if (h, w) == (H, W):
        return maps
    rows_first = H * w * (h + W) <= h * W * (w + H)          # the cheaper order of the two products
    per_pixel = min(H * w * (h + W), h * W * (w + H)) / (H * W)  # multiply-adds per output pixel
    if (mode in _SEPARABLE_BUDGET and per_pixel <= _SEPARABLE_BUDGET[mode] and maps.device.type == "cpu"
            and maps.dtype in (torch.float32, torch.float64)):
        mh = _resize_weights(h, H, mode, maps.dtype, maps.device)    # H x h
        mw = _resize_weights(w, W, mode, maps.dtype, maps.device).t()  # w x W
        return torch.matmul(torch.matmul(mh, maps), mw) if rows_first else torch.matmul(mh, torch.matmul(maps, mw))
    return torch.nn.functional.interpolate(maps.unsqueeze(1), size=size, mode=mode, align_corners=False).squeeze(1)


# above these multiply-adds per output pixel, F.interpolate's own kernel is faster (measured on CPU)
_SEPARABLE_BUDGET = {"bilinear": 16, "bicubic": 128}


@functools.lru_cache(maxsize=64)
def _resize_weights(n_in: int, n_out: int, mode: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """n_out x n_in: F.interpolate's 1-D weights (align_corners=False), column i = the resized unit vector i."""
    eye = torch.eye(n_in, dtype=dtype, device=device).view(1, n_in, n_in, 1)
    out = torch.nn.functional.interpolate(eye, size=(n_out, 1), mode=mode, align_corners=False)
    return out[0, :, :, 0].t().contiguous()
