"""A Keras file as a Pilot: the converted model plus how it sees (input size, scaling, crop).

How the model sees, by default:
- input size: the model's input (H x W from its InputLayer); colour RGB (gray for one channel).
- scaling: pixels / 255 (donkeycar's normalize_image), unless the model's first layer is a Rescaling
  or a stated Lambda (x / 127.5 - 1 and the like): such a model takes raw 0..255 pixels (scale 1).
- crop: `crop=(top, bottom, left, right)` in frame pixels if given; else donkeycar's ROI_CROP_TOP /
  ROI_CROP_BOTTOM from `myconfig`. donkeycar 4.x+ puts that crop *into* the model (a Cropping2D
  right after img_in, fed full frames): then the pilot does not crop again (that would crop twice);
  a myconfig ROI that disagrees with the model's own Cropping2D is an error. A model without a
  Cropping2D (donkeycar 3.x cropped in the pipeline; its input is already the cropped size) gets the
  ROI as the pilot's crop.
"""
from __future__ import annotations

from pathlib import Path

from ..pilot import Pilot
from ..zoo import KERAS_ARCH
from .convert import convert
from .myconfig import read_myconfig, roi_crop

DEFAULT_THROTTLE_RANGE = 0.5  # donkeycar's MODEL_CATEGORICAL_MAX_THROTTLE_RANGE default


def _crop4(crop) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in crop)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or min(values) < 0:
        raise ValueError(f"crop must be 4 non-negative pixel counts (top, bottom, left, right), got {crop!r}")
    return values  # type: ignore[return-value]


def model_crop(graph: dict) -> tuple[int, int, int, int] | None:
    """The (top, bottom, left, right) of a Cropping2D that reads the model input directly, if any."""
    name = graph["input"]["name"]
    for spec in graph["layers"]:
        if spec["type"] == "crop" and spec["inputs"] == [name]:
            return tuple(spec["crop"])  # type: ignore[return-value]
    return None


def _normalises_itself(graph: dict) -> bool:
    name = graph["input"]["name"]
    return any(s["type"] == "affine" and s["inputs"] == [name] for s in graph["layers"])


def keras_pilot(path, *, crop=None, myconfig=None, lambdas: dict | None = None, **pilot_settings) -> Pilot:
    """A Pilot around a Keras `.h5` / `.keras` file (see the module docstring for how it sees).

    crop: (top, bottom, left, right) in frame pixels; myconfig: a donkeycar myconfig.py (read, never
    run) for ROI_CROP_TOP / ROI_CROP_BOTTOM and MODEL_CATEGORICAL_MAX_THROTTLE_RANGE; lambdas: what
    each Lambda layer computes ({"lambda": {"scale": 1/127.5, "offset": -1.0}}); pilot_settings:
    any other Pilot setting (input_size, color, scale, mean, std, outputs, units, default_target, name).
    """
    values = read_myconfig(myconfig) if myconfig is not None else {}
    throttle_range = float(values.get("MODEL_CATEGORICAL_MAX_THROTTLE_RANGE", DEFAULT_THROTTLE_RANGE))
    model, graph = convert(path, lambdas=lambdas, throttle_range=throttle_range)
    own = model_crop(graph)
    if crop is not None:
        crop = _crop4(crop)
    elif values:
        top, bottom = roi_crop(values, myconfig)
        if own is not None and (top or bottom) and (own[0], own[1]) != (top, bottom):
            raise ValueError(f"{myconfig}: ROI_CROP_TOP={top}, ROI_CROP_BOTTOM={bottom}, but the model {path} crops "
                             f"top={own[0]} bottom={own[1]} itself (its Cropping2D layer); give --crop to say which "
                             "frame crop you want before the model's own")
        crop = (0, 0, 0, 0) if own is not None else (top, bottom, 0, 0)
    else:
        crop = (0, 0, 0, 0)
    settings = dict(crop=crop, color="gray" if model.in_channels == 1 else "rgb",
                    scale=1.0 if _normalises_itself(graph) else 1 / 255,
                    outputs=model.output_names, name=Path(path).stem)
    if model.input_size is not None:
        settings["input_size"] = model.input_size
    settings.update(pilot_settings)
    if "input_size" not in settings:
        raise ValueError(f"{path}: the model accepts any image size; give input_size=(w, h)")
    if model.input_size is not None and tuple(settings["input_size"]) != tuple(model.input_size):
        raise ValueError(f"{path}: the model takes {model.input_size[0]}x{model.input_size[1]} (w x h) images, "
                         f"not input_size {tuple(settings['input_size'])}")
    if model.in_channels not in (1, 3):
        raise ValueError(f"{path}: the model takes {model.in_channels}-channel images; pilotlens feeds RGB or gray frames")
    return Pilot(model, arch=KERAS_ARCH, arch_kwargs={"graph": graph, "throttle_range": throttle_range}, **settings)
