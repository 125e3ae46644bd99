"""Hooks on modules that are always released, the layer outputs they capture, and the model state an
explanation must not change."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch
from torch import nn


class HookSet:
    """Collects hook handles; `remove()` (or leaving the `with` block, even by an exception) releases all."""

    def __init__(self) -> None:
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def forward(self, module: nn.Module, fn: Callable) -> None:
        self._handles.append(module.register_forward_hook(fn))

    def forward_pre(self, module: nn.Module, fn: Callable) -> None:
        self._handles.append(module.register_forward_pre_hook(fn))

    def remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def __enter__(self) -> "HookSet":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def keep_first(store: dict, key, value) -> None:
    """Record a hooked value once (a module that runs twice keeps its first use). Returns None, which
    hooks need: a forward hook that returns a value replaces the module's output."""
    if key not in store:
        store[key] = value


def capture(hooks: HookSet, layers: Sequence[tuple[str, nn.Module]], run: Callable[[], torch.Tensor],
            method: str, with_grad: bool = True) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run `run()` (the model's forward) once with `layers` hooked: ([each layer's output A], output).

    Each A must be spatial (B x C x H x W); a layer that runs twice gives its first use. With `with_grad`
    the graph starts at the first of the layers to run (that A is a leaf; nothing before it records a
    graph) and every A is a tensor of that graph the target's gradient can be taken at; a copy goes on,
    so an in-place activation after a layer leaves its A intact. Without, the A are plain outputs."""
    captured: dict[int, torch.Tensor] = {}

    def grab(k: int, name: str):
        def hook(_module, _inputs, out):
            if k in captured:
                return None
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"layer {name!r} returns {type(out).__name__}, not a tensor")
            if out.dim() != 4:
                raise ValueError(f"{method} needs a layer with spatial output B x C x H x W; "
                                 f"{name!r} gives shape {tuple(out.shape)}")
            if not with_grad:
                captured[k] = out
                return None
            if not torch.is_grad_enabled():  # the first of the layers: the graph starts here
                torch.set_grad_enabled(True)
                out = out.detach().requires_grad_(True)
            captured[k] = out
            return out.clone()
        return hook

    for k, (name, module) in enumerate(layers):
        hooks.forward(module, grab(k, name))
    with torch.no_grad():
        output = run()
    missing = [name for k, (name, _) in enumerate(layers) if k not in captured]
    if missing:
        raise ValueError(f"layer {missing[0]!r} did not run in the model's forward pass")
    return [captured[k] for k in range(len(layers))], output


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run in eval mode (no dropout, batch-norm statistics untouched), then restore every module's flag."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


class _ClampNegativeGrad(torch.autograd.Function):
    """Identity forward; backward lets only positive gradients through (guided backpropagation)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


# Activations at which guided backpropagation zeroes negative gradients. For ReLU this equals
# zeroing the negative part of the gradient below it (captum's rule); the others have positive
# derivatives, so clamping above or below the activation gives the same result.
GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.PReLU)


def add_guided_hooks(model: nn.Module, hooks: HookSet) -> int:
    """Make every activation module of `model` guided for the life of `hooks`; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, GUIDED_ACTIVATIONS):
            hooks.forward(module, lambda _m, _i, out: _ClampNegativeGrad.apply(out))
            count += 1
    return count
