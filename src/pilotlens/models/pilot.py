"""The Pilot: a model plus how it sees (crop, resize, colour space, scaling, output names).

    frames (uint8 RGB H x W x 3) --prepare--> x (B x C x h x w, on the model's device) --model--> output
    maps (B x h' x w', any grid over the model input) --to_frame--> B x H x W on the frame's own pixels

A pilot saves to one file, a dict of plain data plus "state_dict", that loads with
torch.load(weights_only=True): loading never runs code from the file.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.frame import Frame
from ..outputs import atomic_file
from ..model_io import device_of, dtype_of, model_output
from ..targets import Decoded, Index, Steering, Target, TargetSpec, parse_target
from . import color as colors
from . import zoo

#: a pilot with an "angle" output explains steering evidence with this threshold (normalised angle
#: units, -1 full left .. 1 full right) unless told otherwise
STEERING_THRESHOLD = 0.05

#: where the pilots shipped with the package live: Pilot.load("<name>") reads weights/<name>.pt
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FILE_FORMAT = "pilotlens.pilot"
FILE_VERSION = 1
_PLAIN = (str, int, float, bool, type(None))
_SETTINGS = ("input_size", "crop", "color", "scale", "mean", "std", "outputs", "units", "default_target", "name")


# the first bytes of the files people pass as a model, to say what a file is before unpickling it
_MAGIC = {b"PK\x03\x04": "torch", b"\x89HDF\r\n\x1a\n": "hdf5"}


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)


def read_torch_file(path: Path) -> Any:
    """torch.load(path, weights_only=True), with errors that say what the file is not, and never the
    advice to load unsafely."""
    with open(path, "rb") as f:
        head = f.read(512)
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind == "hdf5":
        raise ValueError(f"{path}: an HDF5 file (a Keras .h5 model?), not a pilotlens pilot file")
    if kind is None and not head.startswith(b"\x80"):   # neither a torch zip nor a legacy pickle
        what = "empty" if not head else ("text" if _is_text(head) else "not a PyTorch file")
        raise ValueError(f"{path}: not a pilot file: it is {what} (a pilot file is what Pilot.save or "
                         "`pilotlens train` writes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"{path}: refused: it holds pickled Python objects (a whole model or other classes), "
                         "and pilotlens never loads code from a file. Save plain weights instead: "
                         "Pilot(model, ...).save(path) or torch.save(model.state_dict(), path)") from None
    except Exception as e:  # a truncated or corrupt file
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a readable PyTorch file, truncated or corrupt ({reason})") from None


def shipped_pilots() -> list[str]:
    """Names of the pilots shipped with the package (Pilot.load(name) loads them)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt")) if WEIGHTS_DIR.is_dir() else []


def _plain(value: Any, what: str) -> Any:
    """`value` if it is plain data (what weights_only loading accepts), else a ValueError."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, what) for v in value)
    if isinstance(value, dict):
        return {_plain(k, what): _plain(v, what) for k, v in value.items()}
    raise ValueError(f"{what} must be plain data (str, numbers, bool, None, lists, tuples, dicts) to be "
                     f"saved and loaded safely; got {type(value).__name__}: {value!r}")


def _per_channel(value, default: float, what: str) -> tuple[float, ...]:
    if value is None:
        return (default,)
    vals = tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)).ravel())
    if not vals:
        raise ValueError(f"{what} must be a number or one number per channel, got {value!r}")
    return vals


class Pilot:
    """A model plus how it sees.

    model:        any nn.Module taking B x C x h x w, put in eval mode (explainers want dropout off);
                  its output is B x K (or B) or a tuple of those
                  (concatenated). A model with a `decode(output)` method (DonkeyCategorical) has its
                  raw output decoded by `predict`; explainers see the raw output.
    arch, arch_kwargs: the zoo architecture that rebuilds `model` on load (see zoo.build); a pilot
                  without one can still be saved, and is loaded with `Pilot.load(path, model=...)`.
    input_size:   (w, h) the model's input.
    crop:         pixels removed from (top, bottom, left, right) of the original frame first.
    color:        the model's colour space: rgb | bgr | yuv | gray (YUV and gray via OpenCV).
    scale, mean, std: x = (pixels * scale - mean) / std, mean and std a number or one per channel.
    outputs:      names of the output columns (after `decode` when the model has one). A single name
                  for a model with K > 1 columns names the whole B x K array (e.g. "logits").
    units:        {output name: unit} for display, e.g. {"angle": "rad"}.
    default_target: what explainers explain when asked nothing: an output name or column index.
    name:         a display name.
    """

    def __init__(self, model: nn.Module, *, arch: str | None = None, arch_kwargs: dict | None = None,
                 input_size: Sequence[int] = (200, 66), crop: Sequence[int] = (0, 0, 0, 0),
                 color: str = "rgb", scale: float = 1 / 255, mean=None, std=None,
                 outputs: Sequence[str] = ("angle",), units: dict | None = None,
                 default_target: str | int | None = None, name: str | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model.eval()
        self.arch = arch
        self.arch_kwargs = _plain(dict(arch_kwargs or {}), "arch_kwargs")
        if len(input_size) != 2 or min(int(v) for v in input_size) < 1:
            raise ValueError(f"input_size must be (w, h) with positive sides, got {input_size!r}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if len(crop) != 4 or min(int(v) for v in crop) < 0:
            raise ValueError(f"crop must be 4 non-negative pixel counts (top, bottom, left, right), got {crop!r}")
        self.crop = tuple(int(v) for v in crop)
        self.color = colors.check_color(color)
        self.scale = float(scale)
        self.mean = _per_channel(mean, 0.0, "mean")
        self.std = _per_channel(std, 1.0, "std")
        c = colors.channels(self.color)
        for what, vals in (("mean", self.mean), ("std", self.std)):
            if len(vals) not in (1, c):
                raise ValueError(f"{what} has {len(vals)} values; colour space {self.color} has {c} channel(s)")
        if any(s == 0 for s in self.std):
            raise ValueError(f"std must not be zero, got {self.std}")
        self.outputs = (outputs,) if isinstance(outputs, str) else tuple(str(o) for o in outputs)
        if not self.outputs or len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"outputs must be distinct names, at least one, got {outputs!r}")
        self.units = _plain(dict(units), "units") if units else None
        self.default_target = _plain(default_target, "default_target")
        self.name = name

    # -- where the model lives ---------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return device_of(self.model)

    @property
    def dtype(self) -> torch.dtype:
        return dtype_of(self.model)

    def to(self, device) -> "Pilot":
        """Move the model to `device`; returns self."""
        self.model.to(device)
        return self

    # -- frames -> x ------------------------------------------------------------------------
    def _crop_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the crop in a frame of height x width, or a ValueError."""
        top, bottom, left, right = self.crop
        if height - top - bottom < 1 or width - left - right < 1:
            raise ValueError(f"frame of {height}x{width} (h x w) is too small for crop top={top} bottom={bottom} "
                             f"left={left} right={right}: nothing would be left")
        return top, height - bottom, left, width - right

    def _images(self, frames) -> list[np.ndarray]:
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

    def prepare(self, frames) -> torch.Tensor:
        """Frames -> model input B x C x h x w (float, on the model's device).

        frames: a Frame, a uint8 RGB array H x W x 3, a batch B x H x W x 3, or a list of Frames or
        arrays, all the same size. Each is cropped and resized (cv2.INTER_AREA) to input_size; then
        colour conversion and scaling run once over the whole batch.
        """
        return self.from_view(self.view(frames))

    def view(self, frames) -> np.ndarray:
        """The first half of `prepare`: frames -> uint8 RGB B x h x w x 3, cropped and resized to
        input_size (what the model sees, before colour conversion and scaling). Training keeps frames
        in memory this way and augments them here (flips, brightness)."""
        images = self._images(frames)
        y0, y1, x0, x1 = self._crop_box(*images[0].shape[:2])
        w, h = self.input_size
        batch = np.empty((len(images), h, w, 3), np.uint8)
        for i, img in enumerate(images):
            roi = img[y0:y1, x0:x1]
            batch[i] = roi if roi.shape[:2] == (h, w) else cv2.resize(roi, (w, h), interpolation=cv2.INTER_AREA)
        return batch

    def from_view(self, batch: np.ndarray) -> torch.Tensor:
        """The second half of `prepare`: a uint8 RGB batch B x h x w x 3 at input_size (from `view`)
        -> the model input B x C x h x w (colour conversion and scaling, on the model's device)."""
        if not (isinstance(batch, np.ndarray) and batch.dtype == np.uint8 and batch.ndim == 4
                and batch.shape[1:] == (self.input_size[1], self.input_size[0], 3)):
            w, h = self.input_size
            raise ValueError(f"from_view takes a uint8 RGB batch B x {h} x {w} x 3 (the pilot's input size), got "
                             f"shape {getattr(batch, 'shape', None)} dtype {getattr(batch, 'dtype', None)}")
        batch = colors.convert(batch, self.color)
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).contiguous().to(self.dtype)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x * self.scale - mean) / std

    # -- what to explain --------------------------------------------------------------------
    def resolve_target(self, spec: TargetSpec = None) -> Target | None:
        """The one place a pilot-aware target is chosen; every verb and `evaluate` explain this.

        spec None: the pilot's `default_target`, else for a pilot with an "angle" output
        `Steering(0.05)` on it (right / left / keep-centre evidence per frame, so a map explains the
        turn the car is making whichever way it goes), else None (the engine's default: the single
        output, or the argmax class). An output name ("angle", "throttle") is that column;
        "steering[:t]", "left", "right", "centre" read the "angle" output. Anything else goes to
        `targets.parse_target` (an index, "sum", "class[:N]", a callable, a Target).
        For a model with `decode_soft` (a categorical pilot), output names read its differentiable
        decoding; a model with only an argmax `decode` has no named output to differentiate.
        """
        spec = self.default_target if spec is None else spec
        if spec is None:
            return Steering(STEERING_THRESHOLD).with_angle(self._output("angle")) if "angle" in self.outputs else None
        if isinstance(spec, str) and spec.strip() in self.outputs:
            return self._output(spec.strip()) if len(self.outputs) > 1 or self._decodes() else None
        target = parse_target(spec)
        if isinstance(target, Steering) and "angle" in self.outputs and type(target.angle) is Index \
                and target.angle.name is None:   # "steering", "left", ...: read the pilot's angle
            return target.with_angle(self._output("angle"))
        return target

    def _decodes(self) -> bool:
        return callable(getattr(self.model, "decode", None))

    def _output(self, name: str) -> Target:
        """The target reading the output `name` (a raw column, or a column of the soft decoding)."""
        column = self.outputs.index(name)
        if not self._decodes():
            return Index(column, name=name)
        soft = getattr(self.model, "decode_soft", None)
        if not callable(soft):
            raise ValueError(f"the pilot's outputs ({', '.join(self.outputs)}) are decoded by argmax, which has no "
                             "gradient: name a raw output column by its index instead")
        return Decoded(soft, column, name)

    # -- x -> outputs -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's raw output as B x K (what explainers and targets see)."""
        return model_output(self.model(x))

    def predict(self, frames_or_x) -> dict[str, np.ndarray]:
        """{output name: values}: length-B arrays (B x K when one name covers K columns).

        Takes frames (see prepare) or an already prepared x (a B x C x h x w tensor). Runs in eval
        mode without gradients; the model's training flag is restored afterwards.
        """
        if isinstance(frames_or_x, torch.Tensor):
            if frames_or_x.ndim != 4:
                raise ValueError(f"a model input must be B x C x h x w, got shape {tuple(frames_or_x.shape)}")
            x = frames_or_x.to(self.device)
        else:
            x = self.prepare(frames_or_x)
        training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                y = self.forward(x)
        finally:
            self.model.train(training)
        return self.named(y)

    def named(self, output: torch.Tensor) -> dict[str, np.ndarray]:
        """A raw B x K output (what `forward` and explainers give) as {output name: values}, decoded
        when the model has a `decode` method."""
        y = output.detach()
        decode = getattr(self.model, "decode", None)
        if callable(decode):
            with torch.no_grad():
                y = decode(y)
        y = y.float().cpu().numpy()
        if len(self.outputs) == 1 and y.shape[1] != 1:
            return {self.outputs[0]: y}
        if y.shape[1] != len(self.outputs):
            raise ValueError(f"the model gives {y.shape[1]} output columns but the pilot names "
                             f"{len(self.outputs)}: {self.outputs}")
        return {name: y[:, i] for i, name in enumerate(self.outputs)}

    # -- maps -> frame pixels ---------------------------------------------------------------
    def to_frame(self, maps, frame_shape: Sequence[int], mode: str = "bilinear") -> np.ndarray:
        """Maps over the model input -> float32 maps on the original frame's pixels.

        maps: B x h x w (or h x w), torch or numpy, normally at the model's input resolution (any
        grid covering the input works). frame_shape: (H, W) or (H, W, 3) of the original frames.
        Each map is resized to the crop's size (bilinear, align_corners=False, clamped to the map's
        own min..max so rounding cannot leave it; or mode="nearest": each frame pixel takes the map
        cell its centre falls in), placed inside the crop, and zero outside. Returns B x H x W
        (H x W for a single h x w map).
        """
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
        m = maps if isinstance(maps, torch.Tensor) else torch.from_numpy(np.asarray(maps))
        single = m.ndim == 2
        if single:
            m = m[None]
        if m.ndim != 3:
            raise ValueError(f"maps must be B x h x w or h x w, got shape {tuple(m.shape)}")
        height, width = int(frame_shape[0]), int(frame_shape[1])
        y0, y1, x0, x1 = self._crop_box(height, width)
        m = m.detach().float()[:, None]
        if mode == "nearest":
            inside = F.interpolate(m, size=(y1 - y0, x1 - x0), mode="nearest-exact")
        else:
            inside = F.interpolate(m, size=(y1 - y0, x1 - x0), mode="bilinear", align_corners=False)
            lo = m.amin(dim=(2, 3), keepdim=True)
            hi = m.amax(dim=(2, 3), keepdim=True)
            inside = torch.maximum(torch.minimum(inside, hi), lo)
        out = np.zeros((m.shape[0], height, width), np.float32)
        out[:, y0:y1, x0:x1] = inside[:, 0].cpu().numpy()
        return out[0] if single else out

    def to_input(self, maps) -> torch.Tensor:
        """The inverse of `to_frame`: maps on the original frame's pixels (B x H x W or H x W, bool or
        float, numpy or torch) -> B x h x w float32 on the model's input grid (H x W -> h x w for one
        map). The pilot's crop is cut away, then an area resize gives each input pixel the mean of the
        frame pixels it covers (a thin lane marking stays visible as a soft mask)."""
        m = np.asarray(maps.detach().cpu() if isinstance(maps, torch.Tensor) else maps, dtype=np.float32)
        single = m.ndim == 2
        if single:
            m = m[None]
        if m.ndim != 3:
            raise ValueError(f"maps must be B x H x W or H x W, got shape {m.shape}")
        y0, y1, x0, x1 = self._crop_box(m.shape[1], m.shape[2])
        w, h = self.input_size
        out = np.stack([cv2.resize(np.ascontiguousarray(mi[y0:y1, x0:x1]), (w, h), interpolation=cv2.INTER_AREA)
                        for mi in m])
        out = torch.from_numpy(out)
        return out[0] if single else out

    # -- description ------------------------------------------------------------------------
    def describe(self) -> str:
        """A short text: architecture, input size, crop, colour, scaling, outputs."""
        w, h = self.input_size
        top, bottom, left, right = self.crop
        outs = self.outputs if len(self.outputs) <= 6 else \
            (*self.outputs[:3], "...", *self.outputs[-2:])
        units = self.units or {}
        outs = ", ".join(f"{o} [{units[o]}]" if o in units else o for o in outs)
        title = self.arch or type(self.model).__name__
        if self.name:
            title = f"{self.name} ({title})"
        fmt = lambda v: f"{v[0]:.6g}" if len(v) == 1 else "(" + ", ".join(f"{c:.6g}" for c in v) + ")"  # noqa: E731
        crop = f"crop top={top} bottom={bottom} left={left} right={right}" if any(self.crop) else "no crop"
        return (f"{title}: input {w}x{h} {self.color}, {crop}, "
                f"x = (pixels*{self.scale:.6g} - {fmt(self.mean)}) / {fmt(self.std)}; "
                f"{len(self.outputs)} output(s): {outs}")

    def __repr__(self) -> str:
        return f"Pilot({self.describe()})"

    # -- files ------------------------------------------------------------------------------
    def _settings(self) -> dict:
        return dict(input_size=list(self.input_size), crop=list(self.crop), color=self.color,
                    scale=self.scale, mean=list(self.mean), std=list(self.std),
                    outputs=list(self.outputs), units=self.units, default_target=self.default_target,
                    name=self.name)

    def save(self, path, half: bool = False) -> None:
        """Write the pilot to one file, atomically (a temporary file in the same folder, then
        os.replace): plain data (format, arch, arch_kwargs, preprocessing, outputs, units, name) plus
        "state_dict" (on the CPU).

        half=True stores the floating-point tensors as float16 (half the size; the shipped donkey
        pilot needs it to stay small). `load` copies them back into the model's own dtype (float32),
        so a half file loads like any other; its weights are the float16-rounded ones.
        """
        path = Path(path)

        def stored(v: torch.Tensor) -> torch.Tensor:
            v = v.detach().cpu()
            return v.to(torch.float16) if half and v.is_floating_point() else v

        data = {"format": FILE_FORMAT, "version": FILE_VERSION, "arch": self.arch,
                "arch_kwargs": self.arch_kwargs, **self._settings(),
                "weights_dtype": "float16" if half else "as trained",
                "state_dict": {k: stored(v) for k, v in self.model.state_dict().items()}}
        with atomic_file(path) as tmp, open(tmp, "xb") as f:  # plain open: the usual permissions
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())

    @staticmethod
    def _resolve(path_or_name) -> Path:
        path = Path(path_or_name)
        if path.is_file():
            return path
        text = str(path_or_name)
        if "/" not in text and os.sep not in text and not path.suffix:
            shipped = WEIGHTS_DIR / f"{text}.pt"
            if shipped.exists():
                return shipped
            names = shipped_pilots()
            raise FileNotFoundError(f"no pilot file {text!r} here, and no shipped pilot named {text!r}; shipped: "
                                    + (", ".join(names) if names else "none yet"))
        raise FileNotFoundError(f"no pilot file {text}")

    @classmethod
    def load(cls, path_or_name, device="cpu", model: nn.Module | None = None) -> "Pilot":
        """A pilot from a file written by `save`, or a shipped pilot by bare name ("pilotnet").

        Always torch.load(..., weights_only=True): a file holding other Python objects is refused.
        The model is rebuilt from the file's arch and arch_kwargs; for a pilot saved without an arch,
        pass the (untrained) `model` to fill in.
        """
        from .keras import is_keras_file, keras_pilot   # a Keras file converts; nothing in it runs
        if is_keras_file(path_or_name):
            return keras_pilot(path_or_name).to(device)
        path = cls._resolve(path_or_name)
        data = read_torch_file(path)
        if not (isinstance(data, dict) and data.get("format") == FILE_FORMAT):
            raise ValueError(f"{path}: not a pilotlens pilot file (written by Pilot.save); a bare state_dict "
                             "loads with pilot.model.load_state_dict(torch.load(path, weights_only=True))")
        if data.get("version", 0) > FILE_VERSION:
            raise ValueError(f"{path}: pilot file version {data['version']} is newer than this pilotlens reads "
                             f"({FILE_VERSION})")
        arch, arch_kwargs = data.get("arch"), dict(data.get("arch_kwargs") or {})
        if model is None:
            if arch is None:
                raise ValueError(f"{path}: this pilot was saved without an architecture name; "
                                 "pass the model to fill: Pilot.load(path, model=MyNet())")
            if arch.startswith(zoo.TORCHVISION_PREFIX):
                arch_kwargs.pop("weights", None)  # the state_dict brings them; never download
            try:
                model = zoo.build(arch, **arch_kwargs)
            except ImportError as e:
                raise ValueError(f"{path}: the pilot's architecture {arch!r} needs a package that is not "
                                 f"installed: {e}") from None
        model.load_state_dict(data["state_dict"])
        model.to(device)
        settings = {k: data[k] for k in _SETTINGS if k in data}
        return cls(model, arch=arch, arch_kwargs=data.get("arch_kwargs"), **settings)

    @classmethod
    def from_arch(cls, arch: str, *, arch_kwargs: dict | None = None, **pilot_kwargs) -> "Pilot":
        """A fresh, untrained zoo model with its architecture's own way of seeing.

        pilotnet: 200x66 YUV, pixel values as they are (the model normalises: x/127.5 - 1).
        donkey_linear, donkey_categorical: 160x120 RGB, pixels / 255 (donkeycar's normalize_image).
        long_range: 80x64 BGR, pixels / 255 (the model standardises each image).
        torchvision:<name>: 224x224 RGB with ImageNet mean and std, one output "logits" (B x 1000).
        The crop defaults to none for every arch: crop sky and hood for your own camera, e.g.
        crop=(40, 0, 0, 0) on a 160x120 donkeycar frame. Any Pilot setting may be overridden; for a
        zoo arch, input_size and a gray colour space also shape the model (its input_size and
        in_channels) unless arch_kwargs says otherwise.
        """
        settings = {**zoo.preprocessing(arch), **pilot_kwargs}
        arch_kwargs = dict(arch_kwargs or {})
        if arch.startswith(zoo.TORCHVISION_PREFIX):
            settings.setdefault("outputs", ("logits",))
        else:
            arch_kwargs.setdefault("input_size", tuple(int(v) for v in settings["input_size"]))
            arch_kwargs.setdefault("in_channels", colors.channels(settings.get("color", "rgb")))
            if tuple(arch_kwargs["input_size"]) != tuple(settings["input_size"]):
                raise ValueError(f"arch_kwargs input_size {arch_kwargs['input_size']} differs from the pilot's "
                                 f"input_size {settings['input_size']}")
        model = zoo.build(arch, **arch_kwargs)
        settings.setdefault("outputs", getattr(model, "output_names", ("output",)))
        return cls(model, arch=arch, arch_kwargs=arch_kwargs, **settings)
