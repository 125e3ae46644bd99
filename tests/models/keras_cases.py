"""Small Keras models (built by Keras 3 on the torch backend, the test oracle) shaped like the pilots
people explain: donkeycar linear (ROI Cropping2D, two Dense heads) and categorical (15 + 20 softmax
bins), PilotNet (Sequential, Rescaling or a Lambda x/127.5 - 1, ELU) and a Udacity-style functional
model with BatchNorm, 'same' padding with an even kernel and stride 2, dilation, pooling, branches
joined by Concatenate and two outputs; plus a GAP classifier for CAM. Sizes are tiny to stay fast.
"""
from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported anywhere

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - another test imported keras first
    pytest.skip("keras was imported with another backend", allow_module_level=True)
from keras import layers as L  # noqa: E402


def _seed(seed: int = 0) -> None:
    keras.utils.set_random_seed(seed)


def _randomise(model, seed: int = 0) -> None:
    """Non-trivial weights everywhere (BatchNorm statistics too), so no layer is an identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = [rng.normal(0, 1.0 / np.sqrt(np.prod(w.shape[:-1])) if w.ndim > 1 else 0.1, w.shape).astype(np.float32)
                  for w in layer.get_weights()]  # kernels scaled by fan-in: no layer saturates
        if isinstance(layer, L.BatchNormalization):
            n = len(values)
            values[-1] = rng.uniform(0.5, 2.0, values[-1].shape).astype(np.float32)  # moving variance > 0
            if n == 4:
                values[0] = rng.uniform(0.5, 1.5, values[0].shape).astype(np.float32)
        if values:
            layer.set_weights(values)


def donkey_linear(crop=(6, 2)):
    _seed()
    inp = keras.Input((30, 40, 3), name="img_in")
    x = L.Cropping2D((crop, (0, 0)), name="cropping")(inp) if crop else inp
    x = L.Conv2D(8, 5, strides=2, activation="relu", name="conv2d_1")(x)
    x = L.Dropout(0.2)(x)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2d_2")(x)
    x = L.Conv2D(8, 3, activation="relu", name="conv2d_3")(x)
    x = L.Flatten(name="flattened")(x)
    x = L.Dense(16, activation="relu", name="dense_1")(x)
    x = L.Dropout(0.2)(x)
    x = L.Dense(8, activation="relu", name="dense_2")(x)
    outs = [L.Dense(1, name=f"n_outputs{i}")(x) for i in range(2)]
    model = keras.Model(inp, outs, name="linear")
    _randomise(model)
    return model


def donkey_categorical():
    _seed(1)
    inp = keras.Input((30, 40, 3), name="img_in")
    x = L.Conv2D(8, 5, strides=2, activation="relu", name="conv2d_1")(inp)
    x = L.Conv2D(8, 3, strides=2, activation="relu", name="conv2d_2")(x)
    x = L.Flatten(name="flattened")(x)
    x = L.Dense(16, activation="relu", name="dense_1")(x)
    angle = L.Dense(15, activation="softmax", name="angle_out")(x)
    throttle = L.Dense(20, activation="softmax", name="throttle_out")(x)
    model = keras.Model(inp, [angle, throttle])
    _randomise(model, 1)
    return model


def pilotnet(lambda_layer: bool = False):
    """Sequential; the first layer normalises raw pixels: Rescaling, or the classic Lambda."""
    _seed(2)
    first = L.Lambda(lambda t: t / 127.5 - 1.0, name="normalize") if lambda_layer else \
        L.Rescaling(1 / 127.5, offset=-1.0, name="normalize")
    model = keras.Sequential([
        keras.Input((33, 60, 3)), first,
        L.Conv2D(6, 5, strides=2, activation="elu", name="conv1"),
        L.Conv2D(8, 5, strides=2, activation="elu", name="conv2"),
        L.Conv2D(8, 3, activation="elu", name="conv3"),
        L.Flatten(), L.Dense(10, activation="elu"), L.Dense(1, name="steering"),
    ], name="pilotnet")
    _randomise(model, 2)
    return model


def udacity():
    """Functional with two outputs and most supported layers on the way."""
    _seed(3)
    inp = keras.Input((24, 32, 3), name="camera")
    x = L.BatchNormalization(name="bn_in")(inp)
    x = L.Conv2D(8, 4, strides=2, padding="same", use_bias=False, name="conv_a")(x)  # even kernel, stride 2
    x = L.BatchNormalization(name="bn_a")(x)
    x = L.ELU(alpha=0.7, name="elu_a")(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="pool_a")(x)
    x = L.Conv2D(8, 3, padding="same", dilation_rate=2, name="conv_b")(x)
    x = L.LeakyReLU(negative_slope=0.1, name="leaky_b")(x)
    x = L.AveragePooling2D(3, strides=1, padding="same", name="pool_b")(x)  # symmetric: see test_avg_pool_same
    x = L.Conv2D(6, 2, activation="selu", name="conv_c")(x)
    x = L.ReLU(name="relu_c")(x)
    g = L.GlobalAveragePooling2D(name="gap")(x)
    f = L.Flatten(name="flat")(x)
    f = L.Reshape((f.shape[-1],), name="reshape")(f)
    h = L.Concatenate(name="join")([g, f])
    h = L.Dense(12, activation="tanh", name="fc")(h)
    h = L.SpatialDropout2D(0.1, name="sdrop")(L.Reshape((1, 1, 12), name="as_map")(h))
    h = L.Flatten(name="flat2")(h)
    steer = L.Dense(1, name="steer")(h)
    speed = L.Dense(1, activation="sigmoid", name="speed")(L.Activation("relu", name="act_s")(h))
    model = keras.Model(inp, [steer, speed], name="udacity")
    _randomise(model, 3)
    return model


def gap_classifier():
    _seed(4)
    model = keras.Sequential([
        keras.Input((20, 24, 3)),
        L.Conv2D(6, 3, padding="same", activation="relu", name="c1"), L.MaxPooling2D(2, name="p1"),
        L.Conv2D(8, 3, activation="relu", name="c2"), L.GlobalAveragePooling2D(name="gap"),
        L.Dense(5, activation="softmax", name="classes"),
    ])
    _randomise(model, 4)
    return model


CASES = {"donkey_linear": donkey_linear, "donkey_categorical": donkey_categorical, "pilotnet": pilotnet,
         "udacity": udacity, "gap": gap_classifier}
#: a conv layer of each case, by its Keras name (for --layer and Grad-CAM)
CONV = {"donkey_linear": "conv2d_2", "donkey_categorical": "conv2d_2", "pilotnet": "conv2", "udacity": "conv_b",
        "gap": "c2"}


def save(model, folder, stem: str) -> dict[str, str]:
    """The model written as .h5 and as .keras; {suffix: path}."""
    paths = {}
    for suffix in ("h5", "keras"):
        path = os.path.join(str(folder), f"{stem}.{suffix}")
        model.save(path)
        paths[suffix] = path
    return paths


def inputs(model, batch: int = 3, seed: int = 0, high: float = 1.0) -> torch.Tensor:
    """A random batch B x H x W x C (Keras's layout)."""
    shape = tuple(model.inputs[0].shape[1:])
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, high, (batch, *shape)).astype(np.float32))


def keras_outputs(model, x_nhwc: torch.Tensor) -> list[torch.Tensor]:
    """Keras's own outputs (a list, one per output), computed by Keras on the torch backend."""
    out = model(x_nhwc, training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [torch.as_tensor(o) for o in out]


def as_list(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def nchw(x_nhwc: torch.Tensor) -> torch.Tensor:
    return x_nhwc.permute(0, 3, 1, 2).contiguous()
