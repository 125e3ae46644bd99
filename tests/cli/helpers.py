"""What the command-line tests share: PNG frames of the synthetic world, a one-line error, and a
user's own model class (for --model FILE.py:Class --weights)."""
from __future__ import annotations

import textwrap

import torch
from PIL import Image

NET = textwrap.dedent("""
    from torch import nn


    class MyNet(nn.Module):
        input_size = (32, 24)
        output_names = ("angle", "throttle")

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.act = nn.ReLU()
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.act(self.conv(x)).mean(dim=(2, 3)))
""")


def pngs(tmp_path, n=2, folder="in"):
    from pilotlens.data import open_source
    (tmp_path / folder).mkdir(exist_ok=True)
    paths = []
    for f in open_source("synthetic", frames=n, seed=9):
        p = tmp_path / folder / f"frame_{f.index}.png"
        Image.fromarray(f.image).save(p)
        paths.append(p)
    return paths


def error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def reference_net(weights) -> torch.nn.Module:
    """MyNet built here from its source (not through pilotlens) with the weights file loaded."""
    namespace: dict = {}
    exec(NET, namespace)
    model = namespace["MyNet"]()
    model.load_state_dict(torch.load(weights, weights_only=True))
    return model.eval()
