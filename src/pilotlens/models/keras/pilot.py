"""A Keras file as a Pilot: the converted model plus how it sees (input size, scaling, crop).

How the model sees, by default:
- input size: the model's input (H x W from its InputLayer); colour RGB (gray for one channel).
- scaling: pixels / 255 (donkeycar's normalize_image), unless the model's first layer is a Rescaling
  or a stated Lambda (x / 127.5 - 1 and the like): such a model takes raw 0..255 pixels (scale 1).
- crop: `crop=(top, bottom, left, right)` (frame pixels) if given. Else, with a donkeycar `myconfig`,
  what donkeycar's own pipeline did to the camera frame (IMAGE_W x IMAGE_H) before the model:
  * the model takes frames smaller by the ROI_CROP_* amounts (donkeycar 3.x cut the rows off in the
    pipeline and built the model for the cut size): the pilot crops the frames the same way;
  * the model takes whole frames and TRANSFORMATIONS lists "CROP" (donkeycar 4.2+/5: ImgCropMask
    blacks out the border, the size stays): the pilot's model zeroes that border first (a `ZeroBorder`
    layer named "donkeycar_crop_mask" ahead of the Keras layers);
  * the model takes whole frames and no "CROP" step is listed: the ROI settings were not used.
  A Cropping2D inside the model is part of the model and always runs: nothing is cropped twice.
  Any other donkeycar TRANSFORMATIONS (TRAPEZE, CANNY, BLUR, ...) are refused: pilotlens does not
  reproduce them, and explaining frames the model never saw that way would mislead.
"""
from __future__ import annotations

from pathlib import Path

from ..pilot import Pilot
from ..zoo import KERAS_ARCH
from .convert import convert
from .module import keras_module
from .myconfig import image_size, read_myconfig, roi_crop, transformations

DEFAULT_THROTTLE_RANGE = 0.5  # donkeycar's MODEL_CATEGORICAL_MAX_THROTTLE_RANGE default


def _crop4(crop) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in crop)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or min(values) < 0:
        raise ValueError(f"crop must be 4 non-negative pixel counts (top, bottom, left, right), got {crop!r}")
    return values  # type: ignore[return-value]


MASK_LAYER = "donkeycar_crop_mask"


def with_input_mask(graph: dict, border) -> dict:
    """A copy of `graph` whose input first goes through a ZeroBorder(border) layer."""
    name, out = graph["input"]["name"], dict(graph)
    if any(l["name"] == MASK_LAYER for l in graph["layers"]):
        raise ValueError(f"the model already has a layer named {MASK_LAYER!r}")
    layers = [{**l, "inputs": [MASK_LAYER if i == name else i for i in l["inputs"]]} for l in graph["layers"]]
    out["layers"] = [{"name": MASK_LAYER, "type": "mask", "border": list(border), "inputs": [name]}] + layers
    out["outputs"] = [MASK_LAYER if o == name else o for o in graph["outputs"]]
    return out


def donkeycar_preprocessing(values: dict, model_size, path, myconfig) -> tuple[tuple[int, int, int, int], list | None]:
    """(frame crop, border mask or None) reproducing donkeycar's pipeline for a model taking
    `model_size` (w, h) images, from a read myconfig (see the module docstring)."""
    top, bottom, left, right = roi_crop(values, myconfig)
    steps = transformations(values, myconfig)
    others = sorted(set(steps) - {"CROP"})
    if others:
        raise ValueError(f"{myconfig}: TRANSFORMATIONS {others} are image steps pilotlens does not reproduce; the "
                         "explanations would be of frames the model never saw; give --crop and leave --myconfig out "
                         "if they do not matter")
    width, height = image_size(values, myconfig)
    if top + bottom >= height or left + right >= width:     # donkeycar would hand the model a black frame
        raise ValueError(f"{myconfig}: ROI_CROP_TOP={top} + ROI_CROP_BOTTOM={bottom} and ROI_CROP_LEFT={left} + "
                         f"ROI_CROP_RIGHT={right} leave nothing of the {width}x{height} frame (IMAGE_W x IMAGE_H): "
                         "the model would see no pixel; check the config, or give --crop T,B,L,R yourself")
    if model_size is None or not any((top, bottom, left, right)):
        return (0, 0, 0, 0), None
    w, h = model_size
    if (w, h) == (width - left - right, height - top - bottom):
        return (top, bottom, left, right), None
    if (w, h) == (width, height):
        return (0, 0, 0, 0), ([top, bottom, left, right] if "CROP" in steps else None)
    raise ValueError(f"{path}: the model takes {w}x{h} (w x h) images, but {myconfig} says frames of {width}x{height} "
                     f"with ROI crop top={top} bottom={bottom} left={left} right={right}: neither the cut nor the whole "
                     "frame fits; give --crop T,B,L,R yourself")


def _normalises_itself(graph: dict) -> bool:
    name = graph["input"]["name"]
    return any(s["type"] == "affine" and s["inputs"] == [name] for s in graph["layers"])


def keras_pilot(path, *, crop=None, myconfig=None, lambdas: dict | None = None, **pilot_settings) -> Pilot:
    """A Pilot around a Keras `.h5` / `.keras` file (see the module docstring for how it sees).

    crop: (top, bottom, left, right) in frame pixels; myconfig: a donkeycar myconfig.py (read, never
    run) for IMAGE_W/H, ROI_CROP_*, TRANSFORMATIONS and MODEL_CATEGORICAL_MAX_THROTTLE_RANGE; lambdas: what
    each Lambda layer computes ({"lambda": {"scale": 1/127.5, "offset": -1.0}}); pilot_settings:
    any other Pilot setting (input_size, color, scale, mean, std, outputs, units, default_target, name).
    """
    values = read_myconfig(myconfig) if myconfig is not None else {}
    throttle_range = float(values.get("MODEL_CATEGORICAL_MAX_THROTTLE_RANGE", DEFAULT_THROTTLE_RANGE))
    model, graph = convert(path, lambdas=lambdas, throttle_range=throttle_range)
    crop, mask = _frame_crop(crop, values, model.input_size, path, myconfig)
    if mask is not None:
        graph = with_input_mask(graph, mask)
        model = _rebuilt(model, graph, throttle_range)
    settings = {**_own_seeing(model, graph, path), "crop": crop, **pilot_settings}
    _check_fits(model, settings, path)
    return Pilot(model, arch=KERAS_ARCH, arch_kwargs={"graph": graph, "throttle_range": throttle_range}, **settings)


def _frame_crop(crop, values: dict, model_size, path, myconfig) -> tuple[tuple[int, int, int, int], list | None]:
    """(frame crop, border mask or None): the crop given, else donkeycar's from a myconfig, else none."""
    if crop is not None:
        return _crop4(crop), None
    if values:
        return donkeycar_preprocessing(values, model_size, path, myconfig)
    return (0, 0, 0, 0), None


def _rebuilt(model, graph: dict, throttle_range: float):
    """The module for `graph` (the model's graph with layers added ahead) with `model`'s weights."""
    state = model.state_dict()
    model = keras_module(graph, throttle_range=throttle_range)
    model.load_state_dict(state)
    return model.eval()


def _own_seeing(model, graph: dict, path) -> dict:
    """How the converted model sees by itself: its input size and channels, its own scaling."""
    settings = dict(color="gray" if model.in_channels == 1 else "rgb",
                    scale=1.0 if _normalises_itself(graph) else 1 / 255,
                    outputs=model.output_names, name=Path(path).stem)
    if model.input_size is not None:
        settings["input_size"] = model.input_size
    return settings


def _check_fits(model, settings: dict, path) -> None:
    if "input_size" not in settings:
        raise ValueError(f"{path}: the model accepts any image size; give input_size=(w, h)")
    if model.input_size is not None and tuple(settings["input_size"]) != tuple(model.input_size):
        raise ValueError(f"{path}: the model takes {model.input_size[0]}x{model.input_size[1]} (w x h) images, "
                         f"not input_size {tuple(settings['input_size'])}")
    if model.in_channels not in (1, 3):
        raise ValueError(f"{path}: the model takes {model.in_channels}-channel images; pilotlens feeds RGB or gray frames")
