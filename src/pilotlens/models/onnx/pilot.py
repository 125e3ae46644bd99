"""An ONNX file as a Pilot: the converted model plus how it sees.

The file says the input size (its input's H and W) and channels, nothing about preprocessing. By
default: colour RGB (gray for one channel), pixels / 255, no crop; any Pilot setting given wins
(input_size, crop, color, scale, mean, std, outputs, units, default_target, name).
Outputs: a single output of one column is "angle"; otherwise the graph's output names, one per column
of a several-column output as "<name>_<i>" when there are several outputs (a single wide output keeps
its one name for all its columns, like "logits").
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..pilot import Pilot
from ..zoo import ONNX_ARCH  # the name a converted model is saved under: zoo.build rebuilds it
from .convert import load_onnx_model



def _widths(model) -> list[int | None]:
    widths = [s[-1] if s and len(s) == 2 else (1 if s and len(s) == 1 else None)
              for s in model.graph["output_shapes"]]
    if None in widths and model.input_size is not None:
        w, h = model.input_size
        with torch.no_grad():
            outs = model(torch.zeros(1, model.in_channels, h, w))
        widths = [int(o[0].numel()) for o in (outs if isinstance(outs, tuple) else (outs,))]
    return widths


def output_names(model) -> tuple[str, ...]:
    """Names of the output columns (see the module docstring)."""
    names, widths = list(model.output_names), _widths(model)
    if len(names) == 1:
        return ("angle",) if widths[0] == 1 else tuple(names)
    if None in widths:
        raise ValueError(f"the model's outputs {names} have widths the file does not state and its input size is "
                         "free: name the output columns yourself (outputs=...)")
    out: list[str] = []
    for name, width in zip(names, widths):
        out += [name] if width == 1 else [f"{name}_{i}" for i in range(width)]
    return tuple(out)


def onnx_pilot(path, *, layout: str | None = None, **pilot_settings) -> Pilot:
    """A Pilot around an ONNX file (see the module docstring for how it sees). layout: "nchw" or "nhwc"
    when the guess from the input's shape is wrong."""
    model = load_onnx_model(path, layout=layout)
    if model.in_channels not in (1, 3):
        raise ValueError(f"{path}: the model takes {model.in_channels}-channel images; pilotlens feeds RGB or gray frames")
    settings = dict(crop=(0, 0, 0, 0), color="gray" if model.in_channels == 1 else "rgb", scale=1 / 255,
                    name=Path(path).stem)
    if model.input_size is not None:
        settings["input_size"] = model.input_size
    settings.update(pilot_settings)
    if "input_size" not in settings:
        raise ValueError(f"{path}: the model accepts any image size; give input_size=(w, h)")
    if model.input_size is not None and tuple(settings["input_size"]) != tuple(model.input_size):
        raise ValueError(f"{path}: the model takes {model.input_size[0]}x{model.input_size[1]} (w x h) images, "
                         f"not input_size {tuple(settings['input_size'])}")
    if "outputs" not in settings:
        settings["outputs"] = output_names(model)
    return Pilot(model, arch=ONNX_ARCH, arch_kwargs={"graph": model.graph}, **settings)
