"""Small models shaped like the ones pilotlens explains, built fresh and seeded for each test."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from pilotlens.layout import arrange, decide


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state (torch, numpy, random): a test that draws without seeding
    draws the same numbers on every run and in any order of tests, so a failure it finds is found again."""
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests: steadier on a shared machine (the evaluate metrics' many small
    operations, training) and float sums in a fixed order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def inplace_relu_net() -> tuple[nn.Module, torch.Tensor]:
    """conv -> ReLU(inplace=True) -> flatten -> linear (seeded, lazy layer built) and its 2 x 3 x 10 x 10 input:
    the conv's output, a CAM layer, is overwritten in place by the ReLU."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(1)).eval()
    x = torch.rand(2, 3, 10, 10)
    model(x)
    return model, x


def pilotnet_like() -> nn.Module:
    """PilotNet geometry: 3x66x200 -> 24/36/48 5x5 s2, 64/64 3x3 -> 64x1x18 -> 100/50/10/1."""
    return nn.Sequential(
        nn.Conv2d(3, 24, 5, 2), nn.ReLU(), nn.Conv2d(24, 36, 5, 2), nn.ReLU(), nn.Conv2d(36, 48, 5, 2), nn.ReLU(),
        nn.Conv2d(48, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(1152, 100), nn.ReLU(), nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10), nn.ReLU(), nn.Linear(10, 1))


def donkey_like() -> nn.Module:
    """donkeycar linear geometry on 3x120x160 with two heads (angle, throttle) returned as a tuple."""
    class Donkey(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 24, 5, 2), nn.ReLU(), nn.Conv2d(24, 32, 5, 2), nn.ReLU(), nn.Conv2d(32, 64, 5, 2), nn.ReLU(),
                nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten())
            self.dense = nn.Sequential(nn.Linear(64 * 8 * 13, 100), nn.ReLU(), nn.Dropout(0.1), nn.Linear(100, 50), nn.ReLU())
            self.angle, self.throttle = nn.Linear(50, 1), nn.Linear(50, 1)

        def forward(self, x):
            h = self.dense(self.features(x))
            return self.angle(h), self.throttle(h)
    return Donkey()


def gap_classifier() -> nn.Module:
    """A small classifier with a global-average-pool + linear head (CAM applies)."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))


class Block(nn.Module):
    def __init__(self, cin, cout, pool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, dilation=1)
        self.act = nn.ReLU()
        self.pool = pool

    def forward(self, x):
        return self.pool(self.act(self.conv(x)))


def nested() -> nn.Module:
    """Padding, dilation, max and average pooling, odd sizes and nested submodules."""
    return nn.Sequential(
        Block(3, 6, nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(6, 8, 3, padding=2, dilation=2), nn.ReLU(), nn.AvgPool2d(3, stride=2, padding=1)),
        Block(8, 8, nn.Identity()),
        nn.Flatten(), nn.LazyLinear(3))


CASES = {
    "pilotnet": (pilotnet_like, (3, 66, 200)),
    "donkey": (donkey_like, (3, 120, 160)),
    "gap": (gap_classifier, (3, 32, 40)),
    "nested": (nested, (3, 37, 45)),
}


def build(name: str, batch: int = 3, seed: int = 0):
    """(model in eval mode, input batch) for a case, deterministic per seed."""
    make, shape = CASES[name]
    torch.manual_seed(seed)
    model = make()
    x = torch.rand(batch, *shape)
    model(x)  # materialise lazy layers
    for m in model.modules():  # He init keeps activations alive through the depth, so no map is degenerate
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.uniform_(m.bias, -0.1, 0.1)
    decide(model.eval(), x)  # the layout pilotlens runs it in, known before a reference runs it (captum_forward)
    return model, x


@pytest.fixture(params=sorted(CASES))
def case(request):
    """Each test model in turn: (name, model, x)."""
    model, x = build(request.param)
    return request.param, model, x


class Concat(nn.Module):
    """The model as captum wants it: one B x K tensor (tuple heads concatenated). With `arranged`, the batch
    is laid out as pilotlens's forward passes run this model (pilotlens/layout.py: channels_last on CPU where
    the model takes it), so the reference evaluates the same sums in the same order, down to which ReLUs open
    at an input within rounding of zero, and the comparison holds to float rounding."""

    def __init__(self, model: nn.Module, arranged: bool = True):
        super().__init__()
        self.model, self.arranged = model, arranged

    def forward(self, x):
        out = self.model(arrange(self.model, x) if self.arranged else x)
        return torch.cat(out, dim=1) if isinstance(out, tuple) else out


def captum_forward(model: nn.Module, arranged: bool = True) -> nn.Module:
    """The reference's view of the model (see Concat); arranged=False for a method that runs the model's
    batches as given (occlusion)."""
    return Concat(model, arranged).eval()


def explained_columns(name: str, model: nn.Module, x: torch.Tensor) -> list[int]:
    """The output column each case explains: the class argmax for the classifier, else a fixed column."""
    if name == "gap":
        return model(x).argmax(dim=1).tolist()
    return [{"pilotnet": 0, "donkey": 1, "nested": 2}[name]] * x.shape[0]


def assert_rel_close(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-5) -> None:
    """Equal to `rel` of the reference's scale (a plain relative test fails where values cross zero)."""
    scale = ref.abs().max().item()
    assert scale > 0, "reference map is all zeros: the comparison would prove nothing"
    torch.testing.assert_close(ours.detach().double(), ref.detach().double(), rtol=rel, atol=rel * scale)
