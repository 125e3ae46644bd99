"""How pilotlens talks to any nn.Module: where it lives, its output as B x K, and what input it takes.

Every part of pilotlens (explainers, pilots, metrics, training) asks these questions the same way, here.
"""
from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model with neither."""
    # lazily: unpacking every parameter and buffer first cost 36 us a call on PilotNet, on every explain call
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def dtype_of(model: nn.Module) -> torch.dtype:
    """The floating-point dtype of the model's first floating parameter; float32 when it has none."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def model_output(out: Any) -> torch.Tensor:
    """A model's output as B x K: a (B,) tensor becomes B x 1; a tuple or list of heads is concatenated."""
    if isinstance(out, (tuple, list)):
        if not out:
            raise TypeError("the model returned an empty tuple; pilotlens needs a tensor or a tuple of tensors")
        return torch.cat([model_output(o) for o in out], dim=1)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model returned {type(out).__name__}; pilotlens needs a tensor or a tuple of tensors")
    if out.dim() == 0:
        raise TypeError("the model returned a scalar; pilotlens needs one row of outputs per image")
    return out.reshape(out.shape[0], -1)


def input_channels(model: nn.Module) -> int | None:
    """The channels the model's first convolution takes (None when it has no Conv2d first in line)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
        if isinstance(m, nn.Linear):
            return None  # a dense layer first: no channel axis to check
    return None


def check_input(model: nn.Module, x: Any) -> torch.Tensor:
    """x as the model wants it (its device and dtype, detached), or a ValueError/TypeError that says what
    is wrong and how to fix it: not a tensor, not a batch B x C x H x W, not floating point, or channels
    where the model's first convolution does not take them (a channels-last B x H x W x C batch, what
    Keras models take, is refused with the permute that fixes it)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor B x C x H x W, not {type(x).__name__} "
                        "(images go through Pilot.prepare first)")
    if x.dim() == 3:
        raise ValueError(f"x must be a batch B x C x H x W; got C x H x W {tuple(x.shape)}: use x.unsqueeze(0)")
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch B x C x H x W, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
    want = input_channels(model)
    if want is not None and x.shape[1] != want:
        shape = tuple(x.shape)
        if x.shape[3] == want:
            raise ValueError(f"x has shape {shape}, which looks channels-last (B x H x W x C, as Keras takes it); "
                             f"the model's first convolution takes {want} channels first: pass "
                             "x.permute(0, 3, 1, 2), or frames through Pilot.prepare")
        raise ValueError(f"x has {x.shape[1]} channels (shape {shape}) but the model's first convolution "
                         f"takes {want}")
    floating = any(p.is_floating_point() for p in model.parameters())
    return x.detach().to(device=device_of(model), dtype=dtype_of(model) if floating else x.dtype)
