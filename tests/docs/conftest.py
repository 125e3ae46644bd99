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


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Path:
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
    (root / "mycar").mkdir()
    (root / "mycar" / "myconfig.py").write_text("ROI_CROP_TOP = 20\nROI_CROP_BOTTOM = 0\n")
    (root / "mynet.py").write_text(NET)
    namespace: dict = {}
    exec(compile(NET, "mynet.py", "exec"), namespace)
    torch.manual_seed(0)
    torch.save(namespace["MyNet"]().state_dict(), root / "state.pth")
    for name in ("my.pt", "mypilot.pt"):
        open_pilot("donkey").save(root / name)
    return root
