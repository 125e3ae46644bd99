"""The model zoo: driving CNNs from the literature, as plain nn.Modules with readable layer names.

Every zoo model is laid out the same way, so layers can be picked by name:

    model.features   nn.Sequential of conv1, <act>1, [drop1 | pool1], conv2, ...: every conv layer is
                     followed by its own activation *module* (never a functional call), so hooks and
                     guided backprop see it
    model.head       nn.Sequential: flatten, fc1, <act>, ... (the dense part)

and carries `output_names` (what each column of the output means, or of `decode(output)` when the
model has one) and `input_size` (w, h). The class attribute `preprocessing` says how the model
expects to see (size, colour space, scaling): `Pilot.from_arch` uses it.

Shapes are channels-first (C x H x W). Models built from Keras originals have the same layers, but
Keras flattens channels-last: porting trained Keras weights needs the first dense layer's input
permuted.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

from .donkey_bins import donkey_soft_unbin, donkey_unbin

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: how torchvision's ImageNet classifiers see (Pilot settings)
IMAGENET_PREPROCESSING = dict(input_size=(224, 224), color="rgb", scale=1 / 255,
                              mean=IMAGENET_MEAN, std=IMAGENET_STD)

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "elu": nn.ELU}


class Affine(nn.Module):
    """x * scale + shift, in the model: PilotNet's hard-coded normalisation layer."""

    def __init__(self, scale: float = 1 / 127.5, shift: float = -1.0):
        super().__init__()
        self.scale, self.shift = float(scale), float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift

    def extra_repr(self) -> str:
        return f"scale={self.scale:.6g}, shift={self.shift:.6g}"


class PerImageStandardize(nn.Module):
    """(x - mean) / std with mean and std over each whole image (all channels and pixels)."""

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.ndim))
        mean = x.mean(dim=dims, keepdim=True)
        std = x.std(dim=dims, keepdim=True, unbiased=False)
        return (x - mean) / (std + self.eps)


def _flat_size(features: nn.Module, in_channels: int, input_size: tuple[int, int]) -> int:
    """Number of values `features` produces for one image of `input_size` (w, h)."""
    w, h = input_size
    try:
        with torch.no_grad():
            return features(torch.zeros(1, in_channels, h, w)).numel()
    except RuntimeError as e:
        raise ValueError(f"input_size {w}x{h} (w x h) is too small for this architecture's layers ({e})") from e


def _size(input_size) -> tuple[int, int]:
    w, h = (int(v) for v in input_size)
    if w < 1 or h < 1:
        raise ValueError(f"input_size must be (w, h) with positive sides, got {input_size}")
    return w, h


class PilotNet(nn.Module):
    """NVIDIA's PilotNet (Bojarski et al. 2016, "End to End Learning for Self-Driving Cars").

    Input 3 x 66 x 200, YUV in the paper, raw pixel values 0..255: the first layer normalises them
    in the model, x / 127.5 - 1 (`normalize=False` removes it; the pilot then scales). Then conv
    24/36/48 5x5 stride 2 and 64/64 3x3 stride 1 (feature maps 24x31x98, 36x14x47, 48x5x22, 64x3x20,
    64x1x18), flatten 1152, dense 100/50/10 and one output (the steering command).

    activation: "relu" (default: guided backprop needs ReLU modules) or "elu" (what many
    re-implementations train with). The paper's figure counts 1164 neurons after flattening; 64x1x18
    is 1152, which is what the layer sizes give.
    """

    preprocessing = dict(input_size=(200, 66), color="yuv", scale=1.0)

    def __init__(self, activation: str = "relu", in_channels: int = 3, input_size=(200, 66),
                 normalize: bool = True):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        act = _ACTIVATIONS[activation]
        self.input_size = _size(input_size)
        self.output_names = ("angle",)
        self.normalize = Affine(1 / 127.5, -1.0) if normalize else nn.Identity()
        convs = [(in_channels, 24, 5, 2), (24, 36, 5, 2), (36, 48, 5, 2), (48, 64, 3, 1), (64, 64, 3, 1)]
        layers: list[tuple[str, nn.Module]] = []
        for i, (cin, cout, k, s) in enumerate(convs, 1):
            layers += [(f"conv{i}", nn.Conv2d(cin, cout, k, stride=s)), (f"{activation}{i}", act())]
        self.features = nn.Sequential(OrderedDict(layers))
        n = _flat_size(self.features, in_channels, self.input_size)
        self.head = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(n, 100)), (f"{activation}_fc1", act()),
            ("fc2", nn.Linear(100, 50)), (f"{activation}_fc2", act()),
            ("fc3", nn.Linear(50, 10)), (f"{activation}_fc3", act()),
            ("out", nn.Linear(10, 1)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.normalize(x)))


def _donkey_features(in_channels: int, drop: float, l4_stride: int) -> nn.Sequential:
    """donkeycar's core_cnn_layers: conv 24/32/64 5x5 stride 2, 64 3x3 stride l4_stride, 64 3x3
    stride 1, valid padding, each followed by ReLU and Dropout(drop)."""
    convs = [(in_channels, 24, 5, 2), (24, 32, 5, 2), (32, 64, 5, 2), (64, 64, 3, l4_stride), (64, 64, 3, 1)]
    layers: list[tuple[str, nn.Module]] = []
    for i, (cin, cout, k, s) in enumerate(convs, 1):
        layers += [(f"conv{i}", nn.Conv2d(cin, cout, k, stride=s)), (f"relu{i}", nn.ReLU()),
                   (f"drop{i}", nn.Dropout(drop))]
    return nn.Sequential(OrderedDict(layers))


def _donkey_head(n: int, drop: float) -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(n, 100)), ("relu_fc1", nn.ReLU()), ("drop_fc1", nn.Dropout(drop)),
        ("fc2", nn.Linear(100, 50)), ("relu_fc2", nn.ReLU()), ("drop_fc2", nn.Dropout(drop)),
    ]))


class DonkeyLinear(nn.Module):
    """donkeycar's default linear pilot (`default_n_linear(2)`, KerasLinear), donkeycar 4.x.

    Input 3 x 120 x 160 RGB scaled to 0..1 (donkeycar's normalize_image: pixels / 255; the pilot
    does it). Conv 24/32/64 5x5 stride 2, then 64/64 3x3 stride 1, valid padding, ReLU and
    Dropout(0.2) after each (feature maps 24x58x78, 32x27x37, 64x12x17, 64x10x15, 64x8x13; flatten
    6656); dense 100/50 with ReLU and Dropout(0.2); two linear heads `angle` and `throttle`.

    Output: B x 2, columns [angle, throttle].
    """

    preprocessing = dict(input_size=(160, 120), color="rgb", scale=1 / 255)

    def __init__(self, in_channels: int = 3, input_size=(160, 120), drop: float = 0.2):
        super().__init__()
        self.input_size = _size(input_size)
        self.output_names = ("angle", "throttle")
        self.features = _donkey_features(in_channels, drop, l4_stride=1)
        self.head = _donkey_head(_flat_size(self.features, in_channels, self.input_size), drop)
        self.angle = nn.Linear(50, 1)
        self.throttle = nn.Linear(50, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.features(x))
        return torch.cat([self.angle(z), self.throttle(z)], dim=1)


class DonkeyCategorical(nn.Module):
    """donkeycar's categorical pilot (`default_categorical`, KerasCategorical), donkeycar 4.x.

    Same trunk as DonkeyLinear except conv4 has stride 2, as in donkeycar (feature maps 24x58x78,
    32x27x37, 64x12x17, 64x5x8, 64x3x6; flatten 1152); dense 100/50; two heads: `angle` with 15 bins
    and `throttle` with 20 bins, as donkeycar does.

    Output: B x 35 *logits* (donkeycar's Keras model ends in softmax; softmax is left out here so that
    gradients of a bin are not squashed; argmax is unchanged): columns 0..14 are the angle bins,
    columns 15..34 the throttle bins. `decode(output)` turns them into B x 2 [angle, throttle] the
    way donkeycar's linear_unbin does: angle = argmax * 2/14 - 1 (bins -1 .. 1), throttle =
    argmax * throttle_range / 20 (donkeycar's default throttle_range 0.5: 0 .. 0.475).
    """

    preprocessing = dict(input_size=(160, 120), color="rgb", scale=1 / 255)
    angle_bins = 15
    throttle_bins = 20

    def __init__(self, in_channels: int = 3, input_size=(160, 120), drop: float = 0.2,
                 throttle_range: float = 0.5):
        super().__init__()
        self.input_size = _size(input_size)
        self.throttle_range = float(throttle_range)
        self.output_names = ("angle", "throttle")
        self.columns = tuple(f"angle_bin{i}" for i in range(self.angle_bins)) + \
            tuple(f"throttle_bin{i}" for i in range(self.throttle_bins))
        self.features = _donkey_features(in_channels, drop, l4_stride=2)
        self.head = _donkey_head(_flat_size(self.features, in_channels, self.input_size), drop)
        self.angle = nn.Linear(50, self.angle_bins)
        self.throttle = nn.Linear(50, self.throttle_bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.features(x))
        return torch.cat([self.angle(z), self.throttle(z)], dim=1)

    def decode(self, output: torch.Tensor) -> torch.Tensor:
        """B x 35 logits (or probabilities) -> B x 2 [angle, throttle] as donkeycar unbins them."""
        return donkey_unbin(output, self.angle_bins, self.throttle_range)

    def decode_soft(self, output: torch.Tensor) -> torch.Tensor:
        """The differentiable twin of `decode`, which steering targets explain (see donkey_soft_unbin)."""
        return donkey_soft_unbin(output, self.angle_bins, self.throttle_range)


class LongRangeCNN(nn.Module):
    """Nava et al. 2019, "Learning Long-Range Perception Using Self-Supervision from Short-Range
    Sensors and Odometry": a Thymio robot predicts, from one camera frame, what each of its 5 forward
    proximity sensors will read after it has travelled each of 31 distances (0, 1, ..., 30 cm).

    As in the authors' code (idsia-robotics/learning-long-range-perception, unified_model.py): input
    3 x 64 x 80 (BGR, as OpenCV decodes the camera), standardised per image in the model ((x - mean)
    / std over the whole image, as their preprocessing does); three blocks of conv 3x3 'same' padding
    (10, 10, 8 channels) + ReLU + 2x2 max-pool (maps 10x32x40, 10x16x20, 8x8x10; flatten 640);
    dropout 0.2, dense 256 + ReLU, dense n_sensors * n_distances, sigmoid (`sigmoid=False` leaves the
    logits).

    Output: B x 155, distance-major as in their labels: column d * n_sensors + s is sensor s
    (lx, cl, cx, cr, rx: left to right) at distance d cm; `output_names` spells them "cx_12cm".
    """

    preprocessing = dict(input_size=(80, 64), color="bgr", scale=1 / 255)
    sensor_names = ("lx", "cl", "cx", "cr", "rx")

    def __init__(self, n_sensors: int = 5, n_distances: int = 31, in_channels: int = 3,
                 input_size=(80, 64), hidden: int = 256, drop: float = 0.2, sigmoid: bool = True):
        super().__init__()
        self.input_size = _size(input_size)
        self.n_sensors, self.n_distances = int(n_sensors), int(n_distances)
        sensors = self.sensor_names if self.n_sensors == 5 else tuple(f"s{i}" for i in range(self.n_sensors))
        self.output_names = tuple(f"{s}_{d}cm" for d in range(self.n_distances) for s in sensors)
        self.standardize = PerImageStandardize()
        layers: list[tuple[str, nn.Module]] = []
        for i, (cin, cout) in enumerate([(in_channels, 10), (10, 10), (10, 8)], 1):
            layers += [(f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1)), (f"relu{i}", nn.ReLU()),
                       (f"pool{i}", nn.MaxPool2d(2))]
        self.features = nn.Sequential(OrderedDict(layers))
        n = _flat_size(self.features, in_channels, self.input_size)
        head: list[tuple[str, nn.Module]] = [
            ("flatten", nn.Flatten()), ("drop", nn.Dropout(drop)),
            ("fc1", nn.Linear(n, hidden)), ("relu_fc1", nn.ReLU()),
            ("out", nn.Linear(hidden, self.n_sensors * self.n_distances)),
        ]
        if sigmoid:
            head.append(("sigmoid", nn.Sigmoid()))
        self.head = nn.Sequential(OrderedDict(head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.standardize(x)))


def torchvision_classifier(name: str, weights=None, **kwargs) -> nn.Module:
    """A torchvision classifier by name (e.g. "resnet18"), untrained unless `weights` is given.

    weights=None (the default) downloads nothing. It sees the ImageNet way: IMAGENET_PREPROCESSING
    (224 x 224 RGB, pixels / 255, ImageNet mean and std). Needs torchvision (optional).
    """
    try:
        import torchvision
    except ImportError as e:
        raise ImportError(f"torchvision_classifier({name!r}) needs torchvision, which is not installed "
                          "(pip install torchvision)") from e
    return torchvision.models.get_model(name, weights=weights, **kwargs)


#: zoo name -> model class (called with the arch kwargs)
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "pilotnet": PilotNet,
    "donkey_linear": DonkeyLinear,
    "donkey_categorical": DonkeyCategorical,
    "long_range": LongRangeCNN,
}
TORCHVISION_PREFIX = "torchvision:"
#: a model converted from a Keras file (pilotlens.models.keras): build("keras", graph=..., throttle_range=...)
KERAS_ARCH = "keras"
#: a model converted from an ONNX file (pilotlens.models.onnx): build("onnx", graph=...)
ONNX_ARCH = "onnx"


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}, "
                      f"or {TORCHVISION_PREFIX}<name> for a torchvision classifier")


def build(name: str, **kwargs) -> nn.Module:
    """A fresh, untrained model: a zoo name (see ARCHITECTURES) or "torchvision:<name>"; KERAS_ARCH and
    ONNX_ARCH rebuild a converted model from its layer graph (what a pilot file's arch_kwargs hold)."""
    if isinstance(name, str) and name.startswith(TORCHVISION_PREFIX):
        return torchvision_classifier(name[len(TORCHVISION_PREFIX):], **kwargs)
    if name == KERAS_ARCH:
        from .keras.module import keras_module  # a converted Keras file: kwargs hold its layer graph
        return keras_module(**kwargs)
    if name == ONNX_ARCH:
        from .onnx.module import onnx_module  # a converted ONNX file: kwargs hold its layer graph
        return onnx_module(**kwargs)
    if name not in ARCHITECTURES:
        raise _unknown(name)
    return ARCHITECTURES[name](**kwargs)


def preprocessing(name: str) -> dict:
    """How architecture `name` expects to see: Pilot settings (input_size, color, scale, ...)."""
    if isinstance(name, str) and name.startswith(TORCHVISION_PREFIX):
        return dict(IMAGENET_PREPROCESSING)
    if name in (KERAS_ARCH, ONNX_ARCH):
        raise ValueError(f"a converted {'Keras' if name == KERAS_ARCH else 'ONNX'} model's preprocessing comes with "
                         f"its pilot file (pilotlens.models.{name})")
    if name not in ARCHITECTURES:
        raise _unknown(name)
    return dict(ARCHITECTURES[name].preprocessing)
