"""The Pilot: a model plus how it sees (a Seeing), what its outputs mean, and what to explain.

    frames (uint8 RGB H x W x 3) --prepare--> x (B x C x h x w, on the model's device) --model--> output
    maps (B x h' x w', any grid over the model input) --to_frame--> B x H x W on the frame's own pixels

How it sees (crop, resize, colour, scaling) and the geometry between frames and the model's input
live in models/seeing.py; the pilot file (save/load, loadable with torch.load(weights_only=True)) in
models/pilot_file.py. Other model formats become Pilots through models/open.py, never here.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import layout
from ..model_io import device_of, dtype_of, model_output
from ..targets import Decoded, Index, Steering, Target, TargetSpec, parse_target
from . import color as colors
from . import pilot_file, zoo
from .pilot_file import FILE_FORMAT, WEIGHTS_DIR, plain, read_torch_file, shipped_pilots  # noqa: F401 (their old home)
from .seeing import Seeing

#: a pilot with an "angle" output explains steering evidence with this threshold (normalised angle
#: units, -1 full left .. 1 full right) unless told otherwise
STEERING_THRESHOLD = 0.05
_SEEING = ("input_size", "crop", "color", "scale", "mean", "std")


def _seen(name: str) -> property:
    """pilot.<name> reads (and, checked, replaces) the field of the pilot's Seeing."""
    return property(lambda self: getattr(self.seeing, name),
                    lambda self, value: setattr(self, "seeing", replace(self.seeing, **{name: value})),
                    doc=f"The pilot's seeing.{name}.")


class Pilot:
    """A model plus how it sees.

    model:        any nn.Module taking B x C x h x w, put in eval mode (explainers want dropout off);
                  its output is B x K (or B) or a tuple of those
                  (concatenated). A model with a `decode(output)` method (DonkeyCategorical) has its
                  raw output decoded by `predict`; explainers see the raw output.
    arch, arch_kwargs: the zoo architecture that rebuilds `model` on load (see zoo.build); a pilot
                  without one can still be saved, and is loaded with `Pilot.load(path, model=...)`.
    seeing:       how it sees, as one Seeing; or its fields one by one (the Seeing defaults where
                  not given), readable (and replaceable) as pilot.input_size, pilot.crop, ...:
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

    input_size, crop, color = _seen("input_size"), _seen("crop"), _seen("color")
    scale, mean, std = _seen("scale"), _seen("mean"), _seen("std")

    def __init__(self, model: nn.Module, *, arch: str | None = None, arch_kwargs: dict | None = None,
                 seeing: Seeing | None = None, input_size: Sequence[int] | None = None,
                 crop: Sequence[int] | None = None, color: str | None = None, scale: float | None = None,
                 mean=None, std=None, outputs: Sequence[str] = ("angle",), units: dict | None = None,
                 default_target: str | int | None = None, name: str | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model.eval()
        self.arch = arch
        self.arch_kwargs = plain(dict(arch_kwargs or {}), "arch_kwargs")
        self.seeing = _seeing(seeing, input_size=input_size, crop=crop, color=color, scale=scale, mean=mean, std=std)
        self.outputs = (outputs,) if isinstance(outputs, str) else tuple(str(o) for o in outputs)
        if not self.outputs or len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"outputs must be distinct names, at least one, got {outputs!r}")
        self.units = plain(dict(units), "units") if units else None
        self.default_target = plain(default_target, "default_target")
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
    def prepare(self, frames, channels_last: bool | None = None) -> torch.Tensor:
        """Frames -> model input B x C x h x w (float, on the model's device).

        frames: a Frame, a uint8 RGB array H x W x 3, a batch B x H x W x 3, or a list of Frames or
        arrays, all the same size. Each is cropped and resized (cv2.INTER_AREA) to input_size; then
        colour conversion and scaling run once over the whole batch.

        The batch comes in channels_last memory where the model runs that way (pilotlens/layout.py's
        verdict, learnt once per model and input shape): the frames' h x w x C memory permuted to
        B x C x h x w already is channels_last, so this costs nothing, and the explainers, which run the
        model channels_last, need not copy it (0.7 ms on PilotNet's batch of 32, 3 % of its forward pass).
        Else, or with channels_last=False, the usual contiguous NCHW batch. Same values either way.
        """
        x = self.seeing.to_tensor(self.view(frames), self.device, self.dtype, channels_last=True)
        if channels_last is None:
            # the verdict's probe runs the model twice: never on a model in training mode, whose batch-norm
            # statistics those passes would move (and whose dropout would make the verdict meaningless)
            channels_last = not self.model.training and layout.decide(self.model, x)
        return x if channels_last else x.contiguous()

    def view(self, frames) -> np.ndarray:
        """The first half of `prepare`: frames -> uint8 RGB B x h x w x 3, cropped and resized to
        input_size (what the model sees, before colour conversion and scaling). Training keeps frames
        in memory this way and augments them here (flips, brightness)."""
        return self.seeing.view(frames)

    def from_view(self, batch: np.ndarray) -> torch.Tensor:
        """The second half of `prepare`: a uint8 RGB batch B x h x w x 3 at input_size (from `view`)
        -> the model input B x C x h x w (colour conversion and scaling, on the model's device)."""
        return self.seeing.to_tensor(batch, self.device, self.dtype)

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
        """The model's raw output as B x K (what explainers and targets see); a model that rejects
        x's shape gives a ValueError naming the shape and the setting that changes it."""
        try:
            out = self.model(x)
        except RuntimeError as exc:
            raise rejected_input(tuple(x.shape), exc) from exc
        return model_output(out)

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
            x = self.prepare(frames_or_x, channels_last=False)  # predictions as the plain forward gives them
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

    # -- maps <-> frame pixels --------------------------------------------------------------
    def to_frame(self, maps, frame_shape: Sequence[int], mode: str = "bilinear") -> np.ndarray:
        """Maps over the model input -> float32 maps on the original frame's pixels.

        maps: B x h x w (or h x w), torch or numpy, normally at the model's input resolution (any
        grid covering the input works). frame_shape: (H, W) or (H, W, 3) of the original frames.
        Each map is resized to the crop's size (bilinear, align_corners=False, clamped to the map's
        own min..max so rounding cannot leave it; or mode="nearest": each frame pixel takes the map
        cell its centre falls in), placed inside the crop, and zero outside. Returns B x H x W
        (H x W for a single h x w map).
        """
        return self.seeing.to_frame(maps, frame_shape, mode)

    def to_input(self, maps) -> torch.Tensor:
        """The inverse of `to_frame`: maps on the original frame's pixels (B x H x W or H x W, bool or
        float, numpy or torch) -> B x h x w float32 on the model's input grid (H x W -> h x w for one
        map). The pilot's crop is cut away, then an area resize gives each input pixel the mean of the
        frame pixels it covers (a thin lane marking stays visible as a soft mask)."""
        return self.seeing.to_input(maps)

    # -- description ------------------------------------------------------------------------
    def describe(self) -> str:
        """A short text: architecture, input size, crop, colour, scaling, outputs."""
        outs = self.outputs if len(self.outputs) <= 6 else \
            (*self.outputs[:3], "...", *self.outputs[-2:])
        units = self.units or {}
        outs = ", ".join(f"{o} [{units[o]}]" if o in units else o for o in outs)
        title = self.arch or type(self.model).__name__
        if self.name:
            title = f"{self.name} ({title})"
        return f"{title}: {self.seeing.describe()}; {len(self.outputs)} output(s): {outs}"

    def __repr__(self) -> str:
        return f"Pilot({self.describe()})"

    # -- files ------------------------------------------------------------------------------
    def _settings(self) -> dict:
        return dict(**self.seeing.settings(), outputs=list(self.outputs), units=self.units,
                    default_target=self.default_target, name=self.name)

    def save(self, path, half: bool = False) -> None:
        """Write the pilot to one file, atomically (a temporary file in the same folder, then
        os.replace): plain data (format, arch, arch_kwargs, preprocessing, outputs, units, name) plus
        "state_dict" (on the CPU).

        half=True stores the floating-point tensors as float16 (half the size; the shipped donkey
        pilot needs it to stay small). `load` copies them back into the model's own dtype (float32),
        so a half file loads like any other; its weights are the float16-rounded ones.
        """
        data = {"arch": self.arch, "arch_kwargs": self.arch_kwargs, **self._settings()}
        pilot_file.write_pilot(path, data, self.model.state_dict(), half=half)

    @classmethod
    def load(cls, path_or_name, device="cpu", model: nn.Module | None = None) -> "Pilot":
        """A pilot from a file written by `save`, or a shipped pilot by bare name ("pilotnet").

        Always torch.load(..., weights_only=True): a file holding other Python objects is refused.
        The model is rebuilt from the file's arch and arch_kwargs; for a pilot saved without an arch,
        pass the (untrained) `model` to fill in. Keras files, FILE.py:Class and zoo names open with
        `pilotlens.models.open_pilot`.
        """
        path = pilot_file.resolve(path_or_name)
        data = pilot_file.read_pilot(path)
        model = pilot_file.rebuild(data, path, model).to(device)
        settings = {k: data[k] for k in pilot_file.SETTINGS if k in data}
        return cls(model, arch=data.get("arch"), arch_kwargs=data.get("arch_kwargs"), **settings)

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


def rejected_input(shape: tuple, exc: BaseException) -> ValueError:
    """The error for a model that rejects an input of `shape` (B, C, H, W): the shape, the model's own
    words, and the setting that changes it (channels: the colour space; anything else: the size)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "channels" in reason:
        fix = ("give the colour space it was trained on with --color rgb|bgr|yuv (3 channels) or gray (1) "
               "(color= in Python)")
    else:
        h, w = shape[-2:]
        fix = (f"give the size it was trained on with --size WxH (input_size=(w, h) in Python); this input was "
               f"{w}x{h}")
    return ValueError(f"the model rejected an input of shape {tuple(shape)}: {reason}; {fix}")


def _seeing(seeing: Seeing | None, **fields) -> Seeing:
    """`seeing`, or a Seeing from the fields given one by one (not both)."""
    given = {k: v for k, v in fields.items() if v is not None}
    if seeing is None:
        return Seeing(**given)
    if not isinstance(seeing, Seeing):
        raise TypeError(f"seeing must be a Seeing, got {type(seeing).__name__}")
    if given:
        raise ValueError(f"give seeing= or {', '.join(sorted(given))}, not both")
    return seeing
