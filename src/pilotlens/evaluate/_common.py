"""What every metric shares: the tracked value of a perturbed input, pixel orders, seeds and chunked runs.

The tracked value (`Tracker`)
-----------------------------
Every perturbation metric asks the same question: *how far has the model's answer moved?*

* classifier (the target is a class, `Class` / "class"): the softmax probability of the class the
  model chose on the clean image (RISE, ROAD). Frozen on the clean output, so a perturbation that
  flips the decision is seen as the old class losing probability.
* regressor (steering, throttle, distance sensors: any other target): the target score s, with the
  target's choices (a steering side) frozen on the clean output, read as *closeness to the clean
  answer*::

      closeness(x') = 1 - min(1, |s(x') - s(x)| / scale)

  ``scale`` is per image: by default the change the metric's reference image makes,
  ``|s(reference) - s(x)|`` (the all-removed image: the deletion baseline, or the image's mean
  colour for ROAD), floored at ``1e-6 * (1 + |s(x)|)``; or a number you give (e.g. the steering
  range), the same for every image. Closeness is 1 for the clean answer and 0 once the output has
  moved as far as the reference moves it (or further): deletion curves run 1 -> 0 and insertion
  curves 0 -> 1 for every map, so their areas compare only the path between, as the probability
  curves of a classifier do. Bounded in [0, 1]; no sign assumption (a steering output may move
  either way).
"""
from __future__ import annotations

import zlib
from functools import lru_cache
from typing import Callable, Iterable

import torch
from torch import nn

from .. import layout
from ..hooks import eval_mode
from ..model_io import device_of, dtype_of, model_output  # noqa: F401  (the one place evaluate asks)
from ..targets import Class, Target, TargetSpec, chosen_target, freeze, score
from .sorting import stable_order

KINDS = ("auto", "regression", "classification")


def derive_seed(seed: int, *parts: object) -> int:
    """A seed for one piece of work, stable across runs and Python processes (no salted hash)."""
    text = "/".join(str(p) for p in (int(seed), *parts))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def generator(seed: int, *parts: object) -> torch.Generator:
    """A CPU torch.Generator seeded for one piece of work (draw on the CPU, then move: same numbers on any device)."""
    return torch.Generator().manual_seed(derive_seed(seed, *parts))


def check_batch(x: torch.Tensor, what: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor B x C x H x W, not {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty batch B x C x H x W, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {x.dtype}")
    return x


def check_maps(maps: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """maps as a float B x H x W tensor on x's device, matching x (B x C x H x W)."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"maps must be a torch.Tensor B x H x W, not {type(maps).__name__}")
    if maps.dim() == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if tuple(maps.shape) != (x.shape[0], *x.shape[2:]):
        raise ValueError(f"maps must be B x H x W = {(x.shape[0], *x.shape[2:])} to match x {tuple(x.shape)}, "
                         f"got {tuple(maps.shape)}")
    return maps.detach().to(device=x.device, dtype=torch.float32)


def run_model(model: nn.Module, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The model's output B x K for x, `batch_size` images at a time, eval mode, no gradients; in the layout
    the explainers run it in (`layout.decide`: channels_last where the model gives the same output that way,
    its faster forward on CPU), so a metric's thousands of passes cost what the fastest forward costs."""
    outs = []
    with torch.no_grad(), eval_mode(model):
        fast = layout.decide(model, x[:batch_size])
        for i in range(0, x.shape[0], batch_size):
            chunk = x[i:i + batch_size]
            outs.append(model_output(model(chunk.contiguous(memory_format=torch.channels_last) if fast else chunk)))
    return torch.cat(outs)


@lru_cache(maxsize=4)
def tie_order(seed: int, *parts: object, b: int, n: int) -> torch.Tensor:
    """The seeded random order (B x n, a permutation per row) that breaks ties between pixels, drawn from
    generator(seed, *parts): drawn once and shared by the calls with the same seed in a row (a sort of B x n
    random numbers; ROAD and deletion ask for it once per method and order, for one batch). Read only."""
    return torch.rand(b, n, generator=generator(seed, *parts)).argsort(dim=1)


def pixel_ranks(maps: torch.Tensor, gen: torch.Generator | None = None, descending: bool = True,
                order: torch.Tensor | None = None) -> torch.Tensor:
    """Rank of every pixel, B x (H*W): 0 = most relevant (descending) or least relevant (ascending).

    Ties (a flat or binary map) are broken in a seeded random order (`order`, e.g. `tie_order`, or one
    drawn from `gen`), never in raster order, so a map that cannot tell pixels apart removes them like a
    random map would.
    """
    flat = maps.reshape(maps.shape[0], -1)
    b, n = flat.shape
    perm = (order if order is not None else torch.rand(b, n, generator=gen).argsort(dim=1)).to(flat.device)
    vals = flat.gather(1, perm)
    order = perm.gather(1, stable_order(vals, descending)[1])
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(n, device=flat.device).expand(b, n))
    return ranks


def counts(fractions: Iterable[float], n: int, keep_one: bool = False) -> torch.Tensor:
    """Number of pixels for each fraction of n (rounded); with keep_one never all n."""
    k = torch.tensor([int(round(float(f) * n)) for f in fractions], dtype=torch.long)
    return k.clamp(0, n - 1 if keep_one else n)


class Tracker:
    """The value each metric follows for a batch: see the module docstring.

    model, x: the model and its clean batch. target: as for explainers (None: the model's default;
    a Target, an int, a string, a callable). kind: "auto" (a class target -> classification, any
    other -> regression), "regression" or "classification". batch_size: inputs per forward pass.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, target: TargetSpec = None, kind: str = "auto",
                 batch_size: int = 64):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.batch_size = model, int(batch_size)
        x = check_batch(x)
        output = run_model(model, x, self.batch_size)
        chosen = chosen_target(target, output)
        if kind == "auto":
            kind = "classification" if isinstance(chosen, Class) else "regression"
        self.kind = kind
        self.label = repr(chosen)
        self.target: Target = freeze(chosen, output)
        self.output = output
        if kind == "classification":
            if isinstance(chosen, Class) and chosen.index is None:
                self.classes = output.argmax(dim=1)
            else:
                index = getattr(chosen, "index", None)
                if not isinstance(index, int):
                    raise ValueError(f"kind='classification' needs a class or an output index as target, got {chosen!r}")
                self.classes = torch.full((x.shape[0],), index % output.shape[1], dtype=torch.long, device=output.device)
        self.clean = self.value(output, torch.arange(x.shape[0], device=output.device))

    def value(self, output: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The tracked raw value for outputs of images `rows` of the batch: probability or target score."""
        if self.kind == "classification":
            return torch.softmax(output.float(), dim=1).gather(1, self.classes[rows].view(-1, 1)).squeeze(1)
        return score(self.target.select(rows.cpu()), output).float()

    def values(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Run perturbed inputs x (N x C x H x W) of images `rows` (N,) and return their tracked values."""
        return self.value(run_model(self.model, x, self.batch_size), rows.to(self.output.device))

    def run_jobs(self, n_jobs: int, make: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Tracked values of n_jobs perturbed inputs, built `batch_size` at a time by
        make(job ids) -> (inputs, rows); memory stays at one chunk whatever n_jobs is."""
        out = []
        for start in range(0, n_jobs, self.batch_size):
            jobs = torch.arange(start, min(start + self.batch_size, n_jobs))
            inputs, rows = make(jobs)
            out.append(self.values(inputs, rows))
        return torch.cat(out) if out else torch.empty(0)

    def scale(self, reference: torch.Tensor | None, scale: float | None = None,
              reference_values: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image scale of a regressor's change: `scale` if given, else |s(reference) - s(x)| floored
        (reference_values: s(reference) when already computed)."""
        if scale is not None:
            if float(scale) <= 0:
                raise ValueError(f"scale must be > 0, got {scale}")
            return torch.full_like(self.clean, float(scale))
        if reference is None and reference_values is None:
            raise ValueError("a reference image (or a scale) is needed to normalise a regressor's change")
        if reference_values is None:
            reference_values = self.values(reference, torch.arange(reference.shape[0]))
        change = (reference_values - self.clean).abs()
        return torch.maximum(change, 1e-6 * (1 + self.clean.abs()))

    def curve(self, values: torch.Tensor, rows: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
        """What the curves plot: a class probability as it is, a regressor's value as closeness."""
        if self.kind == "classification":
            return values
        rows = rows.to(values.device)
        return 1 - ((values - self.clean[rows]).abs() / scale[rows]).clamp(max=1)


def trapezoid(curves: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    """Area under each row of curves (B x T) over fractions (T,) in [0, 1], trapezoid rule."""
    return torch.trapezoid(curves, fractions.to(curves), dim=-1)


def clean_target_and_maps(model: nn.Module, x: torch.Tensor, target: TargetSpec, method, seed: int,
                          maps: torch.Tensor | None = None) -> tuple[Target, torch.Tensor]:
    """The target frozen on the clean output (same class, same steering side under perturbation), and the
    method's maps of the clean batch (or `maps` when already computed)."""
    with torch.no_grad(), eval_mode(model):
        output = model_output(model(x))
    fixed = freeze(target, output)
    return fixed, (method(model, x, fixed, seed) if maps is None else maps)
