"""What to explain: a callable that turns the model's output (B x K) into one score per image (B,)."""
from __future__ import annotations

from typing import Callable, Union

import torch

TargetSpec = Union[None, int, str, Callable[[torch.Tensor], torch.Tensor]]


class Target:
    """Base of the named targets; `__call__(output B x K) -> score (B,)`."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fix(self, output: torch.Tensor) -> "Target":
        """Freeze the choices this target makes from the clean output (argmax class, steering side),
        so that methods which run perturbed inputs (occlusion, integrated gradients, smoothgrad)
        keep explaining the same decision."""
        return self

    def select(self, rows: torch.Tensor) -> "Target":
        """This target for a batch made of images `rows` of the batch it was fixed on."""
        return self

    def __repr__(self) -> str:
        return type(self).__name__


class Index(Target):
    """The output column `index` (a regressor's output or a class logit)."""

    def __init__(self, index: int, name: str | None = None):
        self.index, self.name = int(index), name

    def __call__(self, output):
        if not -output.shape[1] <= self.index < output.shape[1]:
            raise ValueError(f"target index {self.index} out of range for an output with {output.shape[1]} columns")
        return output[:, self.index]

    def __repr__(self):
        return self.name or f"index {self.index}"


class Class(Target):
    """A classifier's class: the given index, or each image's own argmax when `index` is None."""

    def __init__(self, index: int | None = None):
        self.index = index

    def __call__(self, output):
        if self.index is not None:
            return Index(self.index)(output)
        top = output.detach().argmax(dim=1, keepdim=True)
        return output.gather(1, top).squeeze(1)

    def fix(self, output):
        if self.index is not None:
            return self
        return _Gather(output.detach().argmax(dim=1), repr(self))

    def __repr__(self):
        return "class argmax" if self.index is None else f"class {self.index}"


class _Gather(Target):
    """One chosen column per image."""

    def __init__(self, columns: torch.Tensor, label: str):
        self.columns, self.label = columns, label

    def __call__(self, output):
        return output.gather(1, self.columns.view(-1, 1).to(output.device)).squeeze(1)

    def select(self, rows):
        return _Gather(self.columns[rows], self.label)

    def __repr__(self):
        return self.label


class Decoded(Target):
    """Column `index` of a differentiable decoding of the raw output (a categorical pilot's expected
    angle from its angle bins): `decode(output B x K) -> B x J`."""

    def __init__(self, decode, index: int, name: str):
        self.decode, self.index, self.name = decode, int(index), name

    def __call__(self, output):
        return self.decode(output)[:, self.index]

    def __repr__(self):
        return self.name


class Steering(Target):
    """Steering evidence for the output column `index` (an angle, right positive).

    Per image, by the predicted angle a:
      a >  threshold: right, score = a        (what pushes the car right)
      a < -threshold: left,  score = -a       (what pushes the car left)
      otherwise:      centre, score = -|a|    (what holds the angle near 0)
    The centre score grows as the output nears 0 and stays finite there; its gradient is the evidence
    that pulls the angle back toward 0, the finite form of the 1/a target used in the steering
    Grad-CAM literature. `mode` forces one of "right", "left", "centre" for every image.
    """

    def __init__(self, threshold: float = 0.05, index: int = 0, mode: str | None = None,
                 angle: Target | None = None):
        if threshold < 0:
            raise ValueError("steering threshold must be >= 0")
        if mode not in (None, "right", "left", "centre", "center"):
            raise ValueError(f"steering mode {mode!r}: use right, left or centre")
        self.threshold, self.index, self.mode = float(threshold), int(index), mode
        self.angle = angle if angle is not None else Index(self.index)   # where the angle is read

    def with_angle(self, angle: Target) -> "Steering":
        """The same steering target reading the angle from `angle` (a pilot's named output)."""
        return Steering(self.threshold, getattr(angle, "index", self.index), self.mode, angle)

    def fix(self, output):
        if self.mode is not None:
            return self
        a = self.angle(output).detach()
        side = torch.where(a > self.threshold, 1, torch.where(a < -self.threshold, -1, 0))
        return _SteeringSides(self.angle, side, repr(self))

    def __call__(self, output):
        a = self.angle(output)
        if self.mode == "right":
            return a
        if self.mode == "left":
            return -a
        if self.mode in ("centre", "center"):
            return -a.abs()
        with torch.no_grad():
            right = a > self.threshold
            left = a < -self.threshold
        return torch.where(right, a, torch.where(left, -a, -a.abs()))

    def __repr__(self):
        return f"steering({self.mode or self.threshold})"


class _SteeringSides(Target):
    """Steering with each image's side decided: +1 right, -1 left, 0 centre."""

    def __init__(self, angle: Target, side: torch.Tensor, label: str):
        self.angle, self.side, self.label = angle, side, label

    def __call__(self, output):
        a = self.angle(output)
        side = self.side.to(a.device)
        return torch.where(side == 0, -a.abs(), a * side)

    def select(self, rows):
        return _SteeringSides(self.angle, self.side[rows], self.label)

    def __repr__(self):
        return self.label


class Sum(Target):
    """The sum of all outputs (e.g. a robot's distance sensors at every horizon)."""

    def __call__(self, output):
        return output.sum(dim=1)

    def __repr__(self):
        return "sum"


class Function(Target):
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, output):
        return self.fn(output)

    def __repr__(self):
        return getattr(self.fn, "__name__", "function")


def default_target(output: torch.Tensor) -> Target:
    """The single output for a one-output model, else the argmax class."""
    return Index(0) if output.shape[1] == 1 else Class()


def parse_target(spec: TargetSpec) -> Target | None:
    """Turn a user's spec into a Target (None stays None: chosen from the output later).

    int -> Index; "sum"; "class" / "class:3"; "steering" / "steering:0.1" / "left" / "right" / "centre";
    "index:2" or a digit string; a Target or any callable output -> (B,).
    """
    if spec is None or isinstance(spec, Target):
        return spec
    if isinstance(spec, bool):
        raise TypeError("a target cannot be a bool")
    if isinstance(spec, int):
        return Index(spec)
    if isinstance(spec, str):
        name, _, arg = spec.strip().lower().partition(":")
        if name.lstrip("-").isdigit() and not arg:
            return Index(int(name))
        if name == "index" and arg:
            return Index(_whole(arg, "index takes an output number (e.g. index:2)"))
        if name == "sum" and not arg:
            return Sum()
        if name == "class":
            return Class(_whole(arg, "class takes a class number (e.g. class:3), or none for the top class")
                         if arg else None)
        if name == "steering":
            try:
                return Steering(float(arg)) if arg else Steering()
            except ValueError:
                raise ValueError(f"steering takes a threshold number (e.g. steering:0.05), got {arg!r}") from None
        if name in ("left", "right", "centre", "center") and not arg:
            return Steering(mode=name)
        raise ValueError(f"unknown target {spec!r}; use an output index, 'sum', 'class[:N]', "
                         "'steering[:threshold]', 'left', 'right', 'centre' or a callable")
    if callable(spec):
        return Function(spec)
    raise TypeError(f"a target is an int, a string, a callable or None, not {type(spec).__name__}")


def _whole(text: str, usage: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{usage}, got {text!r}") from None


def chosen_target(spec: TargetSpec, output: torch.Tensor) -> Target:
    """The target a spec names for this output: parsed, or the model's default (`default_target`) for None."""
    target = parse_target(spec)
    return target if target is not None else default_target(output)


def freeze(spec: TargetSpec, output: torch.Tensor) -> Target:
    """The target for this batch with its choices frozen on the clean `output` (argmax class, steering
    side), so that every perturbed pass explains the same decision. The one place a target is frozen."""
    return chosen_target(spec, output).fix(output.detach())


def score(target: Target, output: torch.Tensor) -> torch.Tensor:
    """Apply a target and check it gives one score per image."""
    s = target(output)
    if not isinstance(s, torch.Tensor) or s.shape != (output.shape[0],):
        got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
        raise ValueError(f"target {target!r} must return one score per image, shape ({output.shape[0]},); got {got}")
    return s
