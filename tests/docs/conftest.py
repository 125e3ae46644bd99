"""A folder holding every file the documents' commands name, made once per test session."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")  # the test oracle's backend, before keras is imported

import av  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

NET = textwrap.dedent("""
    import torch
    from torch import nn


    class MyNet(nn.Module):
        input_size = (64, 48)

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5, stride=2)
            self.conv2 = nn.Conv2d(6, 8, 3, stride=2)
            self.act = nn.ReLU()
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            x = self.act(self.conv2(self.act(self.conv1(x))))
            return self.head(x.mean(dim=(2, 3)))
""")


def _frames(n: int = 12):
    from pilotlens.data import open_source
    return list(open_source("synthetic", frames=n, seed=5))


def _video(path: Path, images) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=20)
        stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
        for image in images:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())


def _udacity(root: Path, images) -> None:
    (root / "IMG").mkdir()
    rows = []
    for i, image in enumerate(images):
        names = [f"{cam}_2016_12_01_13_30_48_{i:03d}.jpg" for cam in ("center", "left", "right")]
        for name in names:
            Image.fromarray(image).save(root / "IMG" / name)
        rows.append(", ".join("IMG/" + n for n in names) + f", {i / 20 - 0.2}, 0.3, 0, 20\n")
    (root / "driving_log.csv").write_text("".join(rows))


def _keras_files(root: Path) -> None:
    import keras
    from keras import layers as L
    keras.utils.set_random_seed(0)
    inp = keras.Input((120, 160, 3), name="img_in")
    x = L.Conv2D(8, 5, strides=4, activation="relu", name="conv2d_1")(inp)
    x = L.Conv2D(8, 3, strides=2, activation="relu", name="conv2d_5")(x)
    x = L.Flatten(name="flattened")(x)
    x = L.Dense(8, activation="relu", name="dense_1")(x)
    outs = [L.Dense(1, name=f"n_outputs{i}")(x) for i in range(2)]
    donkey = keras.Model(inp, outs, name="linear")
    (root / "models").mkdir()
    donkey.save(root / "models" / "mypilot.h5")
    donkey.save(root / "models" / "mypilot.keras")
    pilotnet = keras.Sequential([
        keras.Input((66, 200, 3)), L.Lambda(lambda t: t / 127.5 - 1.0, name="lambda"),
        L.Conv2D(6, 5, strides=2, activation="elu", name="conv1"),
        L.Conv2D(8, 5, strides=2, activation="elu", name="conv2"),
        L.Flatten(), L.Dense(1, name="steering"),
    ], name="pilotnet")
    pilotnet.save(root / "pilotnet.h5")


def _keras1_file(path: Path) -> None:
    """A Keras 1.2 PilotNet as the 2016-2018 behavioural-cloning tutorials saved it: a Lambda x/127.5 - 1,
    Cropping2D, Convolution2D with subsample, Flatten, Dense with output_dim (written with h5py)."""
    from models.test_keras1 import conv1, layer, write_keras1_h5
    rng = np.random.default_rng(1)
    lam = layer("Lambda", "lambda_1", function=["4wEAAAAAAAAAAQAAAAIAAABDAAAAcwwAAAB8AABkAQAbZAIAGFMp", None, None],
                function_type="lambda", output_shape=None, output_shape_type="raw", arguments={},
                batch_input_shape=[None, 160, 320, 3], input_dtype="float32")
    layers = [lam, layer("Cropping2D", "cropping2d_1", cropping=[[70, 25], [0, 0]], dim_ordering="tf"),
              conv1("convolution2d_1", 6, 5, 4, "valid", "relu"), conv1("convolution2d_2", 8, 5, 4, "valid", "relu"),
              layer("Flatten", "flatten_1"), layer("Dense", "dense_1", output_dim=1, activation="linear", bias=True)]
    weights = {"convolution2d_1": [("W", rng.normal(0, 0.2, (5, 5, 3, 6))), ("b", np.zeros(6))],
               "convolution2d_2": [("W", rng.normal(0, 0.1, (5, 5, 6, 8))), ("b", np.zeros(8))],
               "dense_1": [("W", rng.normal(0, 0.05, (8 * 3 * 19, 1))), ("b", np.zeros(1))]}
    write_keras1_h5(path, layers, {k: [(n, a.astype(np.float32)) for n, a in v] for k, v in weights.items()})


def _weights_files(root: Path) -> None:
    """Weights-only Keras files (Keras 2's save_weights layout) for the zoo PilotNet (nvidia.h5) and for
    mynet.py:MyNet (mynet.h5), and a Keras JSON architecture with its weights (arch.json, w.h5)."""
    import h5py
    import keras
    from keras import layers as L
    from keras.src.legacy.saving import legacy_h5_format

    def save_weights(model, path):
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)

    keras.utils.set_random_seed(1)
    pilotnet = keras.Sequential([
        keras.Input((66, 200, 3)), L.Rescaling(1 / 127.5, offset=-1.0),
        L.Conv2D(24, 5, strides=2, activation="relu"), L.Conv2D(36, 5, strides=2, activation="relu"),
        L.Conv2D(48, 5, strides=2, activation="relu"), L.Conv2D(64, 3, activation="relu"),
        L.Conv2D(64, 3, activation="relu"), L.Flatten(), L.Dense(100, activation="relu"),
        L.Dense(50, activation="relu"), L.Dense(10, activation="relu"), L.Dense(1)])
    save_weights(pilotnet, root / "nvidia.h5")
    mynet = keras.Sequential([keras.Input((48, 64, 3)), L.Conv2D(6, 5, strides=2, activation="relu"),
                              L.Conv2D(8, 3, strides=2, activation="relu"), L.GlobalAveragePooling2D(), L.Dense(1)])
    save_weights(mynet, root / "mynet.h5")
    small = keras.Sequential([keras.Input((66, 200, 3)), L.Rescaling(1 / 255),
                              L.Conv2D(8, 5, strides=4, activation="elu", name="conv1"),
                              L.Conv2D(8, 3, strides=2, activation="elu", name="conv2"),
                              L.Flatten(), L.Dense(1, name="steering")], name="small")
    (root / "arch.json").write_text(small.to_json())
    save_weights(small, root / "w.h5")


def _onnx_file(path: Path) -> None:
    from models import onnx_cases as C
    C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, path, opset=13)


@pytest.fixture(scope="session")
def base_workspace(tmp_path_factory) -> Path:
    from pilotlens.data import write_tub
    from pilotlens.models import open_pilot
    from pilotlens.render import save_image

    root = tmp_path_factory.mktemp("docs")
    frames = _frames()
    images = [f.image for f in frames]
    write_tub(root / "mytub", frames)
    _video(root / "drive.mp4", images)
    (root / "images").mkdir()
    for i, image in enumerate(images[:3]):
        save_image(root / "images" / f"road_{i}.jpg", image)
    for name, image in zip(("a.png", "b.png", "frame_1.png", "frame_2.png"), images[3:]):
        save_image(root / name, image)
    _udacity(root, images)
    _keras_files(root)
    _keras1_file(root / "model.h5")
    _weights_files(root)
    _onnx_file(root / "net.onnx")
    (root / "mycar").mkdir()
    (root / "mycar" / "myconfig.py").write_text("ROI_CROP_TOP = 20\nROI_CROP_BOTTOM = 0\n")
    (root / "mynet.py").write_text(NET)
    namespace: dict = {}
    exec(compile(NET, "mynet.py", "exec"), namespace)
    torch.manual_seed(0)
    torch.save(namespace["MyNet"]().state_dict(), root / "state.pth")
    for name in ("my.pt", "mypilot.pt"):
        open_pilot("donkey").save(root / name)
    for name, part in (("a", frames[:6]), ("b", frames[6:])):      # a fleet: two tubs and a dashcam video
        write_tub(root / "fleet" / "tubs" / name, part)
    (root / "fleet" / "dashcam").mkdir(parents=True)
    _video(root / "fleet" / "dashcam" / "monday.mp4", images[:8])
    return root


@pytest.fixture(scope="session")
def workspaces(base_workspace, tmp_path_factory):
    """A copy of the base workspace per document, made when its first command runs: the commands of
    one document run in order in one folder (a later one may read what an earlier one wrote)."""
    import shutil

    made: dict[str, Path] = {}

    def workspace(doc: str) -> Path:
        if doc not in made:
            made[doc] = Path(shutil.copytree(base_workspace, tmp_path_factory.mktemp("doc") / doc, symlinks=True))
        return made[doc]
    return workspace
