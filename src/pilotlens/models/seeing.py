"""How a pilot sees: a small frozen value (input size, crop, colour space, scaling) and its geometry.

    frames (uint8 RGB H x W x 3) --view--> uint8 RGB B x h x w x 3 --to_tensor--> x (B x C x h x w)
    maps over the model input (B x h' x w') --to_frame--> B x H x W on the frame's own pixels
    maps on the frame (B x H x W) --to_input--> B x h x w on the model's input grid

Scaling: x = (pixels * scale - mean) / std, per channel after the colour conversion; mean and std are
in scaled units, as torchvision's Normalize after ToTensor (ImageNet: scale 1/255, mean 0.485...).
The command line's `--scale S --offset O` (x = pixels * S + O) is the same thing with mean = -O and
std = 1 (`Seeing.adjusted(offset=O)`); `--normalize imagenet` sets mean and std, not the scale.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..data.frame import Frame
from . import color as colors
from .zoo import IMAGENET_MEAN, IMAGENET_STD

#: `--normalize NAME` -> (mean, std) in scaled units
NORMALIZATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "none": ((0.0,), (1.0,))}


def _per_channel(value, default: float, what: str) -> tuple[float, ...]:
    if value is None:
        return (default,)
    vals = tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)).ravel())
    if not vals:
        raise ValueError(f"{what} must be a number or one number per channel, got {value!r}")
    return vals


def parse_size(text: str) -> tuple[int, int]:
    """'160x120' -> (160, 120): width x height, as `describe` prints it."""
    w, sep, h = str(text).lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise ValueError(f"a size is WIDTHxHEIGHT in pixels (e.g. 160x120), got {text!r}")
    return int(w), int(h)


@dataclass(frozen=True)
class Seeing:
    """How a model sees camera frames; every field checked and normalised on construction.

    input_size: (w, h) the model's input.
    crop:       pixels removed from (top, bottom, left, right) of the original frame first.
    color:      the model's colour space: rgb | bgr | yuv | gray (YUV and gray via OpenCV).
    scale, mean, std: x = (pixels * scale - mean) / std, mean and std a number or one per channel.
    """

    input_size: tuple[int, int] = (200, 66)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    color: str = "rgb"
    scale: float = 1 / 255
    mean: tuple[float, ...] = field(default=(0.0,))
    std: tuple[float, ...] = field(default=(1.0,))

    def __post_init__(self):
        size, crop = self.input_size, self.crop
        if len(size) != 2 or min(int(v) for v in size) < 1:
            raise ValueError(f"input_size must be (w, h) with positive sides, got {size!r}")
        if len(crop) != 4 or min(int(v) for v in crop) < 0:
            raise ValueError(f"crop must be 4 non-negative pixel counts (top, bottom, left, right), got {crop!r}")
        color = colors.check_color(self.color)
        values = dict(input_size=(int(size[0]), int(size[1])), crop=tuple(int(v) for v in crop), color=color,
                      scale=float(self.scale), mean=_per_channel(self.mean, 0.0, "mean"),
                      std=_per_channel(self.std, 1.0, "std"))
        for name, value in values.items():   # frozen: normalised values go in past __setattr__
            object.__setattr__(self, name, value)
        self._check_channels()

    def _check_channels(self) -> None:
        c = colors.channels(self.color)
        for what, vals in (("mean", self.mean), ("std", self.std)):
            if len(vals) not in (1, c):
                raise ValueError(f"{what} has {len(vals)} values; colour space {self.color} has {c} channel(s)")
        if any(s == 0 for s in self.std):
            raise ValueError(f"std must not be zero, got {self.std}")

    # -- built from settings and flags ----------------------------------------------------------
    def adjusted(self, *, size=None, crop=None, color=None, scale=None, offset=None,
                 normalize: str | None = None) -> "Seeing":
        """A copy with what the command line's --size WxH (or (w, h)), --crop, --color, --scale,
        --offset and --normalize NAME say; None leaves a field as it is. --offset O means x =
        pixels * scale + O (mean -O, std 1); it and --normalize both set mean and std, so not both."""
        if offset is not None and normalize is not None:
            raise ValueError("--offset and --normalize both set the mean: give one of them")
        changes: dict = {}
        if size is not None:
            changes["input_size"] = parse_size(size) if isinstance(size, str) else size
        for name, value in (("crop", crop), ("color", color), ("scale", scale)):
            if value is not None:
                changes[name] = value
        if offset is not None:
            changes.update(mean=-float(offset), std=1.0)
        if normalize is not None:
            if str(normalize).lower() not in NORMALIZATIONS:
                raise ValueError(f"unknown normalisation {normalize!r}; known: {', '.join(NORMALIZATIONS)}")
            changes["mean"], changes["std"] = NORMALIZATIONS[str(normalize).lower()]
        return replace(self, **changes)

    def settings(self) -> dict:
        """Plain data (lists, not tuples) for a pilot file; `Seeing(**settings)` reads it back."""
        return dict(input_size=list(self.input_size), crop=list(self.crop), color=self.color,
                    scale=self.scale, mean=list(self.mean), std=list(self.std))

    # -- frames -> x ----------------------------------------------------------------------------
    def crop_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the crop in a frame of height x width, or a ValueError."""
        top, bottom, left, right = self.crop
        if height - top - bottom < 1 or width - left - right < 1:
            raise ValueError(f"frame of {height}x{width} (h x w) is too small for crop top={top} bottom={bottom} "
                             f"left={left} right={right}: nothing would be left")
        return top, height - bottom, left, width - right

    def view(self, frames) -> np.ndarray:
        """Frames -> uint8 RGB B x h x w x 3, cropped and resized (cv2.INTER_AREA) to input_size."""
        images = frame_images(frames)
        y0, y1, x0, x1 = self.crop_box(*images[0].shape[:2])
        w, h = self.input_size
        batch = np.empty((len(images), h, w, 3), np.uint8)
        for i, img in enumerate(images):
            roi = img[y0:y1, x0:x1]
            batch[i] = roi if roi.shape[:2] == (h, w) else cv2.resize(roi, (w, h), interpolation=cv2.INTER_AREA)
        return batch

    def to_tensor(self, batch: np.ndarray, device, dtype: torch.dtype, channels_last: bool = False) -> torch.Tensor:
        """A uint8 RGB batch B x h x w x 3 at input_size (from `view`) -> B x C x h x w on `device`
        in `dtype`: colour conversion and scaling, once over the whole batch. `channels_last`: leave the
        permuted batch in its B x h x w x C memory (channels_last, no copy) instead of copying it to NCHW."""
        w, h = self.input_size
        if not (isinstance(batch, np.ndarray) and batch.dtype == np.uint8 and batch.ndim == 4
                and batch.shape[1:] == (h, w, 3)):
            raise ValueError(f"from_view takes a uint8 RGB batch B x {h} x {w} x 3 (the pilot's input size), got "
                             f"shape {getattr(batch, 'shape', None)} dtype {getattr(batch, 'dtype', None)}")
        batch = colors.convert(batch, self.color)
        x = torch.from_numpy(batch).to(device).permute(0, 3, 1, 2)
        x = (x if channels_last else x.contiguous()).to(dtype)  # element-wise ops below keep the memory layout
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x * self.scale - mean) / std

    # -- maps <-> frame pixels ------------------------------------------------------------------
    def to_frame(self, maps, frame_shape: Sequence[int], mode: str = "bilinear") -> np.ndarray:
        """Maps over the model input -> float32 maps on the original frame's pixels (Pilot.to_frame)."""
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
        m, single = _batched(maps if isinstance(maps, torch.Tensor) else torch.from_numpy(np.asarray(maps)),
                             "B x h x w or h x w")
        height, width = int(frame_shape[0]), int(frame_shape[1])
        y0, y1, x0, x1 = self.crop_box(height, width)
        inside = _resize_map(m.detach().float()[:, None], (y1 - y0, x1 - x0), mode)
        out = np.zeros((m.shape[0], height, width), np.float32)
        out[:, y0:y1, x0:x1] = inside[:, 0].cpu().numpy()
        return out[0] if single else out

    def to_input(self, maps) -> torch.Tensor:
        """Maps on the original frame's pixels -> B x h x w float32 on the model's input grid
        (Pilot.to_input): the crop cut away, then an area resize (each input pixel the mean of the
        frame pixels it covers)."""
        m = np.asarray(maps.detach().cpu() if isinstance(maps, torch.Tensor) else maps, dtype=np.float32)
        m, single = _batched(m, "B x H x W or H x W")
        y0, y1, x0, x1 = self.crop_box(m.shape[1], m.shape[2])
        w, h = self.input_size
        out = np.stack([cv2.resize(np.ascontiguousarray(mi[y0:y1, x0:x1]), (w, h), interpolation=cv2.INTER_AREA)
                        for mi in m])
        out = torch.from_numpy(out)
        return out[0] if single else out

    def describe(self) -> str:
        """'input 200x66 yuv, no crop, x = (pixels*1 - 0) / 1'."""
        w, h = self.input_size
        top, bottom, left, right = self.crop
        crop = f"crop top={top} bottom={bottom} left={left} right={right}" if any(self.crop) else "no crop"
        return (f"input {w}x{h} {self.color}, {crop}, "
                f"x = (pixels*{self.scale:.6g} - {_numbers(self.mean)}) / {_numbers(self.std)}")


def _numbers(values: tuple[float, ...]) -> str:
    return f"{values[0]:.6g}" if len(values) == 1 else "(" + ", ".join(f"{c:.6g}" for c in values) + ")"


def _batched(m, shapes: str):
    """(m as B x ..., whether it was one map) for a 2-D or 3-D array or tensor."""
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"maps must be {shapes}, got shape {tuple(m.shape)}")
    return m, single


def _resize_map(m: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """B x 1 x h x w -> B x 1 x size. bilinear (align_corners=False) is clamped to each map's own
    min..max so rounding cannot leave it; nearest gives each pixel the cell its centre falls in."""
    if mode == "nearest":
        return F.interpolate(m, size=size, mode="nearest-exact")
    inside = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
    lo = m.amin(dim=(2, 3), keepdim=True)
    hi = m.amax(dim=(2, 3), keepdim=True)
    return torch.maximum(torch.minimum(inside, hi), lo)


def frame_images(frames) -> list[np.ndarray]:
    """A Frame, an H x W x 3 array, a B x H x W x 3 batch or a list of those -> checked uint8 RGB
    images, all the same size."""
    if isinstance(frames, Frame):
        frames = [frames]
    elif isinstance(frames, np.ndarray):
        if frames.ndim == 3:
            frames = [frames]
        elif frames.ndim != 4:
            raise ValueError(f"expected uint8 RGB frames H x W x 3 (or a batch B x H x W x 3), got shape {frames.shape}")
    elif isinstance(frames, torch.Tensor):
        raise TypeError("prepare takes frames (uint8 RGB numpy arrays or Frames); a tensor is already a model input")
    images = [f.image if isinstance(f, Frame) else f for f in frames]
    if not images:
        raise ValueError("no frames given")
    for i, img in enumerate(images):
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
            raise ValueError(f"frame {i}: expected a uint8 RGB array H x W x 3, got "
                             f"shape {getattr(img, 'shape', None)} dtype {getattr(img, 'dtype', type(img).__name__)}")
        if img.shape != images[0].shape:
            raise ValueError(f"frames must all have the same size: frame 0 is {images[0].shape}, frame {i} is {img.shape}")
    return images
