"""Fit a pilot on any source of labelled frames (tub, Udacity CSV, SullyChen, synthetic, ...).

    result = train("pilotnet", open_source("mytub/"), epochs=20, out="mypilot.pt")
    print(result)          # validation MSE / MAE next to the constant-angle baseline

What it does, in order (each step is a small public stage: `build_pilot`, `read_data`,
`constant_baseline`, `fit_epoch`; `train` runs them and keeps the best epoch). The recipe of the
shipped pilots is not here: `bench/train_shipped.py` reproduces them.

* **Pilot.** A Pilot is trained as it is (fine-tuning; its model is changed in place). An
  architecture name builds a fresh one with `Pilot.from_arch`, seeing the way that architecture
  expects (PilotNet: 200x66 YUV; donkey: 160x120 RGB, its native camera), plus a crop suited to a
  front camera: PilotNet drops the top 37 % of the frame (the sky: the synthetic world's horizon is at
  40 %, so a few rows above it stay), donkey keeps the whole frame as donkeycar does.
  `pilot_kwargs` overrides any of it, e.g. ``pilot_kwargs=dict(crop=(40, 0, 0, 0))``. A fresh
  pilot's conv and dense layers start from Glorot-uniform weights and zero biases, as in Keras where
  these nets come from (`keras_init`: from PyTorch's default init the donkey net stayed stuck at
  the mean angle).
* **Labels.** A single-output pilot learns the label `target` ("angle"); a multi-output one learns
  one label per output name (donkey: "angle" and "throttle"). A frame without one of them is an
  error naming the label. Validation error and the best checkpoint are judged on `target` alone.
* **Memory.** Every frame is read once and kept as what the model sees before colour conversion
  (`Pilot.view`: cropped and resized uint8 RGB, 40 kB a frame for PilotNet, 58 kB for donkey:
  10 000 frames are well under 1 GB). Colour conversion and scaling run per batch, after augmentation.
* **Split** (`split`). "blocks" (the default): the frames are cut into 20 contiguous blocks in
  source order and a seeded random choice of round(20 * val_fraction) of them (at least one) is held
  out. "random": a seeded random round(n * val_fraction) of the frames, one by one, as donkeycar's
  `train_test_split` does. Neighbouring frames of a drive (20 a second) are near duplicates, so a
  random split validates on frames next to training frames and flatters the pilot; the block split
  validates on stretches the pilot never saw (docs/training.md measures the difference). With
  `val_source` (e.g. other synthetic seeds), all of `source` trains and `val_source` validates.
* **Augmentation** (training batches only, `augment=True`): brightness x U(0.6, 1.4) per image, and
  (unless `flip=False`) a horizontal mirror of half the images with the angle negated (only the
  "angle" label changes sign; throttle and any other label stay). The mirror is of the cropped view,
  so a left/right-asymmetric crop mirrors to a slightly different field of view. Even on a track
  that turns mostly one way it helped a small tub a lot (docs/training.md).
* **Loss.** MSE over the learned labels for regression pilots. The categorical donkey pilot learns
  its bins with cross-entropy, as donkeycar does (angle: 15 bins over -1..1; throttle: 20 bins over
  0..throttle_range, labels outside the range go to the end bins; the two losses weighted 0.5 each);
  its validation error is that of the decoded (unbinned) angle. Any other model with a `decode`, or
  one whose output columns do not match the labels, is refused.
* **Sparsity** (`sparsity`, default 0): adds `sparsity` x the mean of the first convolution's rectified
  output to the training loss, an L1 activity penalty (Keras's `activity_regularizer`, as a mean over
  units). First-layer units then fire on strong edges (lane lines, road edges, shadow edges) and stay
  silent on texture such as grass, so the pilot's gradients, and the maps drawn from them, follow the
  road instead of a fixed template. Too much and the first layer dies: the pilot predicts the mean
  (the summary then says it is no better than the constant baseline). The shipped PilotNet uses 0.3,
  the donkey 0.05 (`bench/train_shipped.py`).
* **Optimiser.** Adam (lr), mini-batches of batch_size, reshuffled each epoch; optionally a cosine
  learning-rate decay over the run (`schedule="cosine"`).
* **Early stopping** (`patience`, `min_delta`; off by default): the run stops once `patience`
  epochs in a row failed to lower the best validation MSE of `target` by more than `min_delta`
  (Keras's `EarlyStopping`, which donkeycar uses with patience 5 and min_delta 0.0005), so `epochs`
  becomes a cap. The best checkpoint below still takes any improvement, however small.
* **Recipes** (`RECIPES`): named sets of these settings. "donkeycar" is donkeycar's own (4.x/5.x
  `cfg_complete.py` and `pipeline/training.py`): batches of 128, a random 80/20 split, Adam at 1e-3,
  up to 100 epochs with early stopping (patience 5, min_delta 0.0005), no augmentation. "pilotlens"
  is what `pilotlens train` uses by default. ``train(arch, source, **RECIPES["donkeycar"])``.
* **Best checkpoint.** After each epoch the validation MSE of `target` is measured (eval mode);
  whenever it improves the pilot is written to ``OUT.checkpoint.pt`` beside `out` (`Pilot.save`,
  atomic, `half` for float16), renamed to `out` when the run ends. A run that is interrupted or fails
  leaves `out` as it was and keeps the checkpoint under that name, and says so (the exception's
  `pilotlens_kept`). At the end the best weights are put back into the pilot.
* **Divergence.** A loss or validation error that is not finite (a learning rate far too high)
  stops the run with a ValueError naming the epoch; labels beyond +-1e18 (whose squares overflow
  float32) are refused with their frame.
* **Baseline.** The constant predictor: the training mean of `target`, scored on the same
  validation frames. A pilot that does not beat it clearly has learnt nothing from the images.
* **Determinism.** Everything random (initial weights of a fresh pilot, dropout, shuffling,
  augmentation) comes from `seed` inside `torch.random.fork_rng` (the caller's global RNG is left as
  it was), and `torch.use_deterministic_algorithms(True)` is on during training: the same seed on
  the same machine (CPU, same thread count) gives identical weights and losses.
"""
from __future__ import annotations

import copy
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data.frame import Frame
from .hooks import HookSet
from .models import zoo
from .models.pilot import Pilot

__all__ = ["TrainResult", "TrainData", "train", "prediction_error", "load_frames", "read_data", "build_pilot",
           "constant_baseline", "fit_epoch", "split_blocks", "split_random", "augment_batch", "default_pilot",
           "keras_init", "checkpoint_path", "MIRRORED_LABELS", "RECIPES", "SPLITS"]

#: labels that change sign when the image is mirrored left-right
MIRRORED_LABELS = ("angle",)
#: PilotNet's default crop: this share of the frame's top rows (the sky) is dropped
PILOTNET_SKY = 0.37
SPLIT_BLOCKS = 20
LABEL_LIMIT = 1e18          # below sqrt(float32 max) = 1.8e19: a squared error stays finite
BRIGHTNESS = (0.6, 1.4)
SPLITS = ("blocks", "random")

#: named training settings (keyword arguments of `train`); docs/training.md compares them on a small tub
RECIPES: dict[str, dict] = {
    # donkeycar 4.x/5.x: cfg_complete.py (BATCH_SIZE 128, TRAIN_TEST_SPLIT 0.8, MAX_EPOCHS 100,
    # EARLY_STOP_PATIENCE 5, MIN_DELTA 0.0005, AUGMENTATIONS []; OPTIMIZER None: Keras's Adam at 1e-3);
    # utils.train_test_split shuffles records one by one
    "donkeycar": dict(batch_size=128, split="random", val_fraction=0.2, epochs=100, patience=5, min_delta=0.0005,
                      lr=1e-3, schedule="constant", augment=False, flip=False),
    # pilotlens train's defaults: donkeycar's early stopping and epoch cap, the honest block split, batches
    # of 64, brightness and mirror augmentation (bench/train_recipes.py, docs/training.md)
    "pilotlens": dict(batch_size=64, split="blocks", val_fraction=0.2, epochs=100, patience=5, min_delta=0.0005,
                      lr=1e-3, schedule="constant", augment=True, flip=True),
}


@dataclass
class TrainResult:
    """What `train` found. Errors are in the units of the `target` label, on the validation frames.

    val_mse, val_mae:           the best checkpoint's validation error.
    baseline_mse, baseline_mae: the constant predictor (the training mean of `target`) on the same frames.
    epochs_run, best_epoch:     epochs trained, and the (1-based) epoch of the best checkpoint.
    path:                       where the best checkpoint was saved (None without `out`).
    history:                    one dict per epoch: epoch, train_loss, val_mse, val_mae, seconds.
    split:                      how the validation frames were chosen: "blocks", "random" or "val_source".
    stopped_early:              the run stopped before `epochs` (early stopping); `patience` and
                                `min_delta` say with what.
    """

    val_mse: float
    val_mae: float
    baseline_mse: float
    baseline_mae: float
    epochs_run: int
    best_epoch: int
    path: Path | None
    history: list[dict] = field(default_factory=list)
    target: str = "angle"
    n_train: int = 0
    n_val: int = 0
    baseline_value: float = 0.0
    split: str = "blocks"
    val_fraction: float = 0.2
    stopped_early: bool = False
    patience: int | None = None
    min_delta: float = 0.0
    pilot: Pilot | None = field(default=None, repr=False, compare=False)

    def describe_split(self) -> str:
        """Which frames validated, in words."""
        n = self.n_train + self.n_val
        if self.split == "blocks":
            return (f"{self.n_val} of {n} frames held out in contiguous blocks (stretches of the drive the pilot "
                    f"never trained on; {self.n_train} trained)")
        if self.split == "random":
            return (f"{self.n_val} of {n} frames held out one by one at random (their neighbours, near "
                    f"duplicates, trained: this flatters the pilot; {self.n_train} trained)")
        return f"{self.n_val} frames of the separate validation source ({self.n_train} trained)"

    def verdict(self) -> str:
        """The model's MSE against the constant baseline's, as a ratio in words."""
        if self.val_mse <= self.baseline_mse:
            ratio = self.baseline_mse / self.val_mse if self.val_mse > 0 else math.inf
            return f"{ratio:.1f}x lower MSE than the constant"
        return f"WORSE than the constant ({self.val_mse / max(self.baseline_mse, 1e-300):.1f}x its MSE)"

    def __str__(self) -> str:
        if self.stopped_early:
            stop = (f", stopped early (no gain over {self.min_delta:g} in {self.patience} epochs)")
        else:
            stop = ""
        saved = f"; saved to {self.path}" if self.path is not None else ""
        return (f"validation ({self.split} split): {self.describe_split()}\n"
                f"best epoch {self.best_epoch}/{self.epochs_run}{stop}: validation {self.target} MSE "
                f"{self.val_mse:.5g} MAE {self.val_mae:.4g} vs constant baseline (training mean "
                f"{self.baseline_value:+.4g}) MSE {self.baseline_mse:.5g} MAE {self.baseline_mae:.4g} on the same "
                f"{self.n_val} frames: {self.verdict()}{saved}")


# -- the pilot ---------------------------------------------------------------------------------
def default_pilot(arch: str, frame_shape: Sequence[int], **pilot_kwargs) -> Pilot:
    """A fresh zoo pilot for frames of `frame_shape` (H, W[, 3]): the arch's own input size and
    colour space, and for PilotNet a crop of the top PILOTNET_SKY of the frame (the sky); weights
    initialised the Keras way (`keras_init`). `pilot_kwargs` override any Pilot setting (arch_kwargs
    included)."""
    height = int(frame_shape[0])
    settings: dict = {}
    if arch == "pilotnet":
        settings["crop"] = (int(round(PILOTNET_SKY * height)), 0, 0, 0)
    settings.update(pilot_kwargs)
    pilot = Pilot.from_arch(arch, **settings)
    keras_init(pilot.model)
    return pilot


def keras_init(model: torch.nn.Module) -> torch.nn.Module:
    """Glorot-uniform weights and zero biases for every conv and dense layer: how Keras, where the zoo's
    driving nets come from, initialises them. PyTorch's default (uniform +-1/sqrt(fan_in), random
    biases) shrinks the activations layer by layer; from it the donkey net stayed stuck predicting the
    mean angle on the synthetic world for hundreds of steps, while from Glorot it learns in a few."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    return model


def _categorical(model) -> bool:
    return isinstance(model, zoo.DonkeyCategorical)


# -- frames in memory --------------------------------------------------------------------------
def _labels_of(frame: Frame, names: Sequence[str], needed_by: str) -> list[float]:
    out = []
    for name in names:
        value = (frame.labels or {}).get(name)
        if value is None:
            have = ", ".join(sorted(frame.labels or {})) or "none"
            raise ValueError(f"frame {frame.index} ({frame.source or 'source'}) has no label {name!r}, which "
                             f"{needed_by} needs; its labels: {have}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"frame {frame.index} ({frame.source or 'source'}): label {name!r} is {value!r}, "
                             "not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"frame {frame.index} ({frame.source or 'source'}): label {name!r} is {value}")
        if abs(value) > LABEL_LIMIT:   # its square overflows float32: every loss would be inf
            raise ValueError(f"frame {frame.index} ({frame.source or 'source'}): label {name!r} is {value:g}, out "
                             f"of range (training squares errors in float32: labels must be within +-{LABEL_LIMIT:g})")
        out.append(value)
    return out


def _length(frames) -> int | None:
    """How many frames, when the source can say without reading them (for the progress bar)."""
    if hasattr(frames, "length"):
        return frames.length()
    try:
        return len(frames)  # type: ignore[arg-type]
    except TypeError:
        return None


def load_frames(pilot: Pilot, frames: Iterable[Frame], labels: Sequence[str], *, max_frames: int | None = None,
                chunk: int = 256, progress: bool = False, desc: str = "reading frames",
                needed_by: str = "training", total: int | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """Read frames once: (uint8 views N x h x w x 3 as `pilot.view` makes them, labels N x K float32).

    A frame lacking one of `labels` raises ValueError naming the label and the frame."""
    views: list[np.ndarray] = []
    ys: list[list[float]] = []
    pending: list[Frame] = []
    total = total if total is not None else _length(frames)
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    bar = tqdm(total=total, desc=desc, unit="frame", disable=not progress, leave=False, file=sys.stderr)
    try:
        for frame in frames:
            if max_frames is not None and len(ys) >= max_frames:
                break
            if not isinstance(frame, Frame):
                raise TypeError(f"training needs Frames with labels (from a Source), got {type(frame).__name__}")
            ys.append(_labels_of(frame, labels, needed_by))
            pending.append(frame)
            if len(pending) >= chunk:
                views.append(pilot.view(pending))
                bar.update(len(pending))
                pending = []
        if pending:
            views.append(pilot.view(pending))
            bar.update(len(pending))
    finally:
        bar.close()
    if not ys:
        raise ValueError("the source gave no frames to train on")
    return np.concatenate(views), torch.tensor(ys, dtype=torch.float32)


def split_blocks(n: int, val_fraction: float, generator: torch.Generator,
                 blocks: int = SPLIT_BLOCKS) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) for n frames in source order: the frames are cut into
    `blocks` contiguous blocks (fewer when n is small), and round(blocks * val_fraction) of them (at
    least one, at most all but one) chosen at random with `generator` are held out."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    if n < 2:
        raise ValueError(f"need at least 2 frames to hold some out for validation, got {n}")
    blocks = max(2, min(blocks, n))
    k = min(max(1, round(blocks * val_fraction)), blocks - 1)
    held = torch.randperm(blocks, generator=generator)[:k]
    block_of = torch.arange(n) * blocks // n
    is_val = torch.isin(block_of, held)
    return torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()


def split_random(n: int, val_fraction: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices), both sorted: a random round(n * val_fraction) of the n
    frames (at least one, at most n - 1), chosen one by one with `generator`, as donkeycar does. Frames
    next to a validation frame then train: a drive's neighbouring frames are near duplicates, so this
    validation flatters (docs/training.md)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    if n < 2:
        raise ValueError(f"need at least 2 frames to hold some out for validation, got {n}")
    k = min(max(1, round(n * val_fraction)), n - 1)
    is_val = torch.zeros(n, dtype=torch.bool)
    is_val[torch.randperm(n, generator=generator)[:k]] = True
    return torch.nonzero(~is_val).flatten(), torch.nonzero(is_val).flatten()


# -- augmentation ------------------------------------------------------------------------------
def augment_batch(views: np.ndarray, y: torch.Tensor, generator: torch.Generator, *,
                  mirror_columns: Sequence[int] = (0,), flip_p: float = 0.5,
                  brightness: tuple[float, float] | None = BRIGHTNESS) -> tuple[np.ndarray, torch.Tensor]:
    """Random brightness and left-right mirror for a training batch (new arrays; inputs untouched).

    views: uint8 RGB B x h x w x 3 (`Pilot.view`), y: B x K labels. Each image is mirrored with
    probability flip_p, and then the label columns `mirror_columns` (the angle) change sign; then
    every pixel is scaled by a factor drawn from U(brightness) per image, clipped to 0..255 and
    rounded. All randomness comes from `generator`."""
    b = views.shape[0]
    flip = torch.rand(b, generator=generator) < flip_p
    gain = torch.empty(b).uniform_(*(brightness or (1.0, 1.0)), generator=generator)
    out = views.copy()
    f = flip.numpy()
    if f.any():
        out[f] = out[f][:, :, ::-1]
    if brightness is not None:
        scaled = out.astype(np.float32) * gain.numpy()[:, None, None, None]
        out = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    y = y.clone()
    cols = list(mirror_columns)
    if cols:
        sign = torch.where(flip, -1.0, 1.0)[:, None]
        y[:, cols] = y[:, cols] * sign
    return out, y


# -- loss and error ----------------------------------------------------------------------------
def _bins(model: zoo.DonkeyCategorical, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """donkeycar's linear_bin: angle -> round((a + 1) * 7) of 15, throttle -> round(t * 20 / range) of 20."""
    na, nt = model.angle_bins, model.throttle_bins
    a = torch.round((y[:, 0] + 1.0) * ((na - 1) / 2.0)).clamp(0, na - 1).long()
    t = torch.round(y[:, 1] * (nt / model.throttle_range)).clamp(0, nt - 1).long()
    return a, t


def _loss(pilot: Pilot, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model = pilot.model
    if _categorical(model):
        a, t = _bins(model, y)
        na = model.angle_bins
        return 0.5 * F.cross_entropy(out[:, :na], a) + 0.5 * F.cross_entropy(out[:, na:], t)
    return F.mse_loss(out, y)


def _predict_target(pilot: Pilot, out: torch.Tensor, column: int) -> torch.Tensor:
    decode = getattr(pilot.model, "decode", None)
    y = decode(out) if callable(decode) else out
    return y[:, column]


def _evaluate(pilot: Pilot, views: np.ndarray, y: torch.Tensor, column: int, batch: int) -> tuple[float, float]:
    """(MSE, MAE) of the target column over the validation set, in eval mode without gradients."""
    pilot.model.eval()
    se = ae = 0.0
    with torch.no_grad():
        for i in range(0, len(views), batch):
            out = pilot.forward(pilot.from_view(views[i:i + batch]))
            err = _predict_target(pilot, out, column).double().cpu() - y[i:i + batch, column].double()
            se += float((err * err).sum())
            ae += float(err.abs().sum())
    n = len(views)
    return se / n, ae / n


def _check_model(pilot: Pilot, labels: Sequence[str], views: np.ndarray) -> None:
    model = pilot.model
    if callable(getattr(model, "decode", None)) and not _categorical(model):
        raise ValueError(f"train fits regression pilots and the categorical donkey pilot; {type(model).__name__} "
                         "decodes its output in its own way, which train does not know how to fit")
    with torch.no_grad():
        was = model.training
        model.eval()
        k = pilot.forward(pilot.from_view(views[:1])).shape[1]
        model.train(was)
    want = model.angle_bins + model.throttle_bins if _categorical(model) else len(labels)
    if k != want:
        raise ValueError(f"the model gives {k} output columns but train fits {len(labels)} label(s) "
                         f"({', '.join(labels)}); train fits regression pilots with one output per label")


# -- the stages ----------------------------------------------------------------------------------
def _check_request(epochs: int, batch_size: int, lr: float, max_frames: int | None, schedule: str,
                   out: str | Path | None, sparsity: float = 0.0) -> Path | None:
    """Refuse impossible settings before any frame is read; return the output path (folder made)."""
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}")
    if max_frames is not None and max_frames < 2:
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if not (math.isfinite(sparsity) and sparsity >= 0):
        raise ValueError(f"sparsity must be a finite number >= 0, got {sparsity}")
    path = Path(out) if out is not None else None
    if path is not None:
        if path.is_dir():
            raise ValueError(f"out must be a file path (e.g. mypilot.pt), got the folder {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def build_pilot(pilot_or_arch: Pilot | str, first: Frame, target: str,
                pilot_kwargs: dict | None = None) -> tuple[Pilot, list[str], int]:
    """The pilot to train (a given Pilot, or a fresh one of an architecture for `first`'s size), the
    labels it learns, and the column of `target` among them."""
    if isinstance(pilot_or_arch, Pilot):
        if pilot_kwargs:
            raise ValueError("pilot_kwargs only apply when training from an architecture name")
        pilot = pilot_or_arch
    elif isinstance(pilot_or_arch, str):
        pilot = default_pilot(pilot_or_arch, first.image.shape, **(pilot_kwargs or {}))
    else:
        raise TypeError(f"pilot_or_arch must be a Pilot or an architecture name, got {type(pilot_or_arch).__name__}")
    if len(pilot.outputs) == 1 and pilot.outputs[0] != target:
        if not isinstance(pilot_or_arch, str):
            raise ValueError(f"this pilot's one output is named {pilot.outputs[0]!r} but target is {target!r}: "
                             f"train it on its own label (target={pilot.outputs[0]!r}) or rename its output")
        pilot.outputs = (target,)     # a fresh single-output pilot learns, and is named after, `target`
    labels = list(pilot.outputs) if len(pilot.outputs) > 1 else [target]
    if target not in labels:
        raise ValueError(f"target {target!r} is not one of the pilot's outputs ({', '.join(labels)})")
    return pilot, labels, labels.index(target)


@dataclass
class TrainData:
    """The frames in memory: uint8 views (`Pilot.view`) and labels, for training and validation."""

    train_views: np.ndarray
    train_y: torch.Tensor
    val_views: np.ndarray
    val_y: torch.Tensor


def read_data(pilot: Pilot, frames: Iterable[Frame], labels: Sequence[str], generator: torch.Generator, *,
              val_source: Iterable[Frame] | None = None, val_fraction: float = 0.2, max_frames: int | None = None,
              progress: bool = False, total: int | None = None, split: str = "blocks") -> TrainData:
    """Read every frame once; validation is `val_source`, or frames held out of `frames`: contiguous
    blocks (split="blocks") or single frames at random (split="random")."""
    needed_by = f"this pilot ({', '.join(labels)})"
    views, y = load_frames(pilot, frames, labels, max_frames=max_frames, progress=progress,
                           needed_by=needed_by, total=total)
    if val_source is not None:
        val_views, val_y = load_frames(pilot, val_source, labels, max_frames=max_frames, progress=progress,
                                       desc="reading validation frames", needed_by=needed_by)
        return TrainData(views, y, val_views, val_y)
    tr, va = (split_random if split == "random" else split_blocks)(len(views), val_fraction, generator)
    return TrainData(views[tr.numpy()], y[tr], views[va.numpy()], y[va])


def constant_baseline(data: TrainData, column: int) -> tuple[float, float, float]:
    """(value, validation MSE, validation MAE) of the constant predictor: the training mean of `column`."""
    constant = float(data.train_y[:, column].double().mean())
    err = data.val_y[:, column].double() - constant
    return constant, float((err * err).mean()), float(err.abs().mean())


def _first_conv(model: torch.nn.Module) -> torch.nn.Conv2d:
    """The model's first Conv2d (in module order): the layer the sparsity penalty watches."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            return m
    raise ValueError(f"sparsity needs a convolutional layer; {type(model).__name__} has no Conv2d")


def fit_epoch(pilot: Pilot, data: TrainData, optimizer: torch.optim.Optimizer, generator: torch.Generator, *,
              batch_size: int, augment: bool, mirror: Sequence[int], scheduler=None, bar=None,
              sparsity: float = 0.0, flip: bool = True) -> float:
    """One pass over the training frames in a fresh random order; the mean training loss (the
    sparsity penalty included)."""
    pilot.model.train()
    n = len(data.train_views)
    order = torch.randperm(n, generator=generator)
    total = 0.0
    activity: list[torch.Tensor] = []
    with HookSet() as hooks:
        if sparsity > 0:
            hooks.forward(_first_conv(pilot.model), lambda m, i, out: activity.append(F.relu(out).mean()))
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size].numpy()
            xb, yb = data.train_views[idx], data.train_y[idx]
            if augment:
                xb, yb = augment_batch(xb, yb, generator, mirror_columns=mirror, flip_p=0.5 if flip else 0.0)
            loss = _loss(pilot, pilot.forward(pilot.from_view(xb)), yb.to(pilot.device))
            if activity:  # one entry per call of the layer in this forward pass
                loss = loss + sparsity * torch.stack(activity).mean()
                activity.clear()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += float(loss.detach()) * len(idx)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.4g}")
    return total / n


def train(pilot_or_arch: Pilot | str, source: Iterable[Frame], *, epochs: int = 10, batch_size: int = 64,
          lr: float = 1e-3, val_fraction: float = 0.2, seed: int = 0, augment: bool = True,
          out: str | Path | None = None, target: str = "angle", progress: bool = True,
          max_frames: int | None = None, val_source: Iterable[Frame] | None = None,
          pilot_kwargs: dict | None = None, half: bool = False, schedule: str = "constant",
          sparsity: float = 0.0, split: str = "blocks", patience: int | None = None, min_delta: float = 0.0,
          flip: bool = True) -> TrainResult:
    """Train a pilot on labelled frames and keep the best checkpoint by validation error.

    pilot_or_arch: a Pilot (trained in place) or a zoo architecture name ("pilotnet",
        "donkey_linear", "donkey_categorical"), built fresh for the source's frame size (see the
        module docstring; `pilot_kwargs` override its settings).
    source: any iterable of Frames carrying the labels (a Source from `open_source`).
    epochs, batch_size, lr: Adam on mini-batches, reshuffled every epoch; schedule="cosine" lowers
        the learning rate from lr to 0 along a cosine over the run (per batch), "constant" keeps it.
    val_fraction: share of `source` held out for validation (ignored with `val_source`).
    split: "blocks" (contiguous blocks held out: honest) or "random" (frames one by one, as donkeycar;
        flatters, since a frame's neighbours train).
    patience, min_delta: stop once `patience` epochs in a row did not lower the best validation MSE
        by more than `min_delta` (None: run all `epochs`).
    seed: everything random; the same seed gives the same weights and losses (CPU).
    augment: random brightness and (with flip=True) left-right mirror (angle negated) on training batches.
    out: the pilot file to write the best checkpoint to (atomic; float16 tensors with half=True).
    target: the label a single-output pilot learns (a fresh one names its output after it), and the
        one validation error and the best checkpoint are judged on.
    max_frames: read at most this many frames of `source` (and of `val_source`).
    sparsity: weight of the L1 penalty on the first convolution's rectified output (0: none).
    Returns a TrainResult; `str(result)` is the one-line summary.
    """
    path = _check_request(epochs, batch_size, lr, max_frames, schedule, out, sparsity)
    _check_stopping(split, patience, min_delta, val_fraction)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        frames = iter(source)
        first = next(frames, None)
        if first is None:
            raise ValueError("the source gave no frames to train on")
        pilot, labels, column = build_pilot(pilot_or_arch, first, target, pilot_kwargs)
        if sparsity > 0:
            _first_conv(pilot.model)  # refuse a model without one before any frame is read
        data = read_data(pilot, itertools.chain([first], frames), labels, generator, val_source=val_source,
                         val_fraction=val_fraction, max_frames=max_frames, progress=progress, total=_length(source),
                         split=split)
        _check_model(pilot, labels, data.train_views)
        constant, baseline_mse, baseline_mae = constant_baseline(data, column)
        history, best, best_state = _fit(pilot, data, column, path, epochs=epochs, batch_size=batch_size, lr=lr,
                                         schedule=schedule, augment=augment, half=half, progress=progress,
                                         sparsity=sparsity, flip=flip, patience=patience, min_delta=min_delta,
                                         generator=generator, mirror=[i for i, name in enumerate(labels)
                                                                      if name in MIRRORED_LABELS], target=target)
        if best_state is not None:
            pilot.model.load_state_dict(best_state)
    return TrainResult(val_mse=best[0], val_mae=best[1], baseline_mse=baseline_mse, baseline_mae=baseline_mae,
                       epochs_run=len(history), best_epoch=best[2], path=path if best_state is not None else None,
                       history=history, target=target, n_train=len(data.train_views), n_val=len(data.val_views),
                       baseline_value=constant, split="val_source" if val_source is not None else split,
                       val_fraction=val_fraction, stopped_early=len(history) < epochs, patience=patience,
                       min_delta=min_delta, pilot=pilot)


def _check_stopping(split: str, patience: int | None, min_delta: float, val_fraction: float) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be a whole number of epochs >= 1 (or None: no early stopping), got {patience!r}")
    if not (math.isfinite(min_delta) and min_delta >= 0):
        raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")


def _fit(pilot: Pilot, data: TrainData, column: int, path: Path | None, *, epochs: int, batch_size: int,
         lr: float, schedule: str, augment: bool, half: bool, progress: bool, generator: torch.Generator,
         mirror: Sequence[int], target: str, sparsity: float, flip: bool = True, patience: int | None = None,
         min_delta: float = 0.0) -> tuple[list[dict], tuple[float, float, int], dict | None]:
    """The epochs: fit, validate, keep (and save) the best, stop early when asked; deterministic
    algorithms while it runs."""
    checkpoint = checkpoint_path(path) if path is not None else None
    steps = math.ceil(len(data.train_views) / batch_size)
    optimizer = torch.optim.Adam(pilot.model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps) if schedule == "cosine" else None
    deterministic = (torch.are_deterministic_algorithms_enabled(),
                     torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    history: list[dict] = []
    best: tuple[float, float, int] = (math.inf, math.inf, 0)
    best_state = None
    saved = False          # whether this run wrote `checkpoint`
    epoch = 0
    watched, waited = math.inf, 0   # early stopping: the best MSE it counts from, epochs since it moved
    bar = tqdm(total=epochs * steps, desc="training", unit="batch", disable=not progress, file=sys.stderr)
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            loss = fit_epoch(pilot, data, optimizer, generator, batch_size=batch_size, augment=augment,
                             mirror=mirror, scheduler=scheduler, bar=bar, sparsity=sparsity, flip=flip)
            val_mse, val_mae = _evaluate(pilot, data.val_views, data.val_y, column, max(batch_size, 128))
            if not (math.isfinite(loss) and math.isfinite(val_mse)):
                raise ValueError(f"training diverged at epoch {epoch}: training loss {loss:.5g}, validation {target} "
                                 f"MSE {val_mse:.5g} (not finite); lower the learning rate (lr {lr:g}) or check the "
                                 "labels' scale")
            improved = val_mse < best[0]
            history.append(dict(epoch=epoch, train_loss=loss, val_mse=val_mse, val_mae=val_mae,
                                seconds=time.perf_counter() - start))
            if improved:
                best = (val_mse, val_mae, epoch)
                best_state = copy.deepcopy(pilot.model.state_dict())
                if checkpoint is not None:
                    pilot.save(checkpoint, half=half)
                    saved = True
            if val_mse < watched - min_delta:     # Keras's EarlyStopping: only a gain over min_delta counts
                watched, waited = val_mse, 0
            else:
                waited += 1
            if progress:
                bar.write(f"epoch {epoch}/{epochs}: train loss {loss:.5g}, validation {target} MSE "
                          f"{val_mse:.5g} MAE {val_mae:.4g}{' (best)' if improved else ''}", file=sys.stderr)
            if patience is not None and waited >= patience:
                if progress:
                    bar.write(f"stopping early: no gain over {min_delta:g} in validation {target} MSE for "
                              f"{patience} epochs", file=sys.stderr)
                break
        if saved:
            os.replace(checkpoint, path)   # complete: the checkpoint becomes the pilot file
    except BaseException as exc:   # interrupted (Ctrl-C, SIGTERM) or failed: say what is on disk
        if path is not None:
            exc.pilotlens_kept = (f"stopped in epoch {epoch}; the best epoch so far ({best[2]}, validation {target} MSE "
                                  f"{best[0]:.5g}) is kept as the checkpoint {checkpoint}, and {path} was not written"
                                  if saved else f"stopped in epoch {epoch}; no model was kept ({path} was not written)")
        raise
    finally:
        bar.close()
        torch.use_deterministic_algorithms(deterministic[0], warn_only=deterministic[1])
        pilot.model.eval()
    return history, best, best_state


def checkpoint_path(out: str | Path) -> Path:
    """Where a run keeps its best epoch until it ends: mypilot.pt -> mypilot.checkpoint.pt."""
    out = Path(out)
    return out.with_name(f"{out.stem}.checkpoint{out.suffix or '.pt'}")


# -- scoring a trained pilot ------------------------------------------------------------------
def prediction_error(pilot: Pilot, frames: Iterable[Frame], *, target: str = "angle", constant: float = 0.0,
                     batch_size: int = 128, max_frames: int | None = None) -> dict[str, float]:
    """How well `pilot` predicts label `target` on labelled frames (e.g. a drive it never saw):
    {"mse", "mae", "baseline_mse", "baseline_mae", "n"}, the baseline being the constant `constant`
    (pass the training mean of the label, `TrainResult.baseline_value`). Predictions go through
    `Pilot.predict` (decoded for the categorical donkey)."""
    se = ae = bse = bae = 0.0
    n = 0
    chunk: list[Frame] = []

    def flush() -> None:
        nonlocal se, ae, bse, bae, n
        truth = np.array(_labels_of_all(chunk, target), np.float64)
        guess = np.asarray(pilot.predict(chunk)[target], np.float64).reshape(-1)
        se += float(((guess - truth) ** 2).sum())
        ae += float(np.abs(guess - truth).sum())
        bse += float(((truth - constant) ** 2).sum())
        bae += float(np.abs(truth - constant).sum())
        n += len(chunk)
        chunk.clear()

    for frame in frames:
        if max_frames is not None and n + len(chunk) >= max_frames:
            break
        chunk.append(frame)
        if len(chunk) >= batch_size:
            flush()
    if chunk:
        flush()
    if n == 0:
        raise ValueError("no frames to score")
    return dict(mse=se / n, mae=ae / n, baseline_mse=bse / n, baseline_mae=bae / n, n=n)


def _labels_of_all(frames: Sequence[Frame], name: str) -> list[float]:
    return [_labels_of(f, [name], "scoring")[0] for f in frames]
