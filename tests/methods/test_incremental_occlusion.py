"""Incremental occlusion gives the scores of full passes, on models whose early layers it takes and on
models it must refuse (it then runs full passes)."""
import pytest
import torch
from conftest import assert_rel_close, build
from torch import nn

import pilotlens
from pilotlens.methods import _incremental_occlusion as inc
from pilotlens.models.zoo import Affine, PerImageStandardize


class SmallVGG(nn.Module):
    """Scaling arithmetic in forward, 3x3 convs with padding, in-place ReLUs, batch norm, max and average
    pooling, a global-average-pool head."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding="same"), nn.ReLU(inplace=True), nn.AvgPool2d(3, 2, padding=1),
            nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))

    def forward(self, x):
        return self.head(self.features(x * 2.0 - 1.0))


class Residual(nn.Module):
    """A skip connection after the first conv: the local prefix stops where the branch starts."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 3, 2), nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.LazyLinear(2)

    def forward(self, x):
        a = torch.relu(self.conv1(x))
        return self.fc(torch.flatten(a + self.conv2(a), 1))


class Branching(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, 2), nn.LazyLinear(1)

    def forward(self, x):
        a = self.conv(x)
        if a.mean() > 0:
            a = a * 2
        return self.fc(a.flatten(1))


class Standardized(nn.Module):
    """A first layer that is not local (per-image statistics): nothing can be incremental."""

    def __init__(self):
        super().__init__()
        self.norm, self.conv, self.fc = PerImageStandardize(), nn.Conv2d(3, 4, 5, 2), nn.LazyLinear(1)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(self.norm(x))).flatten(1))


def _model(name, shape=(3, 37, 45)):
    if name in ("pilotnet", "donkey", "nested", "gap"):
        return build(name, batch=2)
    torch.manual_seed(0)
    model = {"vgg": SmallVGG, "residual": Residual, "branching": Branching, "standardized": Standardized}[name]()
    x = torch.rand(2, *shape)
    model(x)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics that are not the identity
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval(), x


@pytest.mark.parametrize("name,steps", [
    ("pilotnet", 9), ("donkey", 9), ("nested", 7), ("gap", 4), ("vgg", 10), ("residual", 1),
    ("branching", None), ("standardized", None)])
def test_incremental_scores_equal_full_passes(name, steps):
    model, x = _model(name)
    plan = inc.plan_for(model)
    assert (plan and len(plan.steps)) == steps
    # strides of half the window do not divide the input: windows are clipped at the edges
    windows = [5, (9, 13), 16] if x.shape[-1] < 100 else [(12, 16), 24]
    x = x if x.shape[-1] < 100 else x[:1]  # the full passes of a 66 x 200 input are slow
    ours = pilotlens.explain(model, x, "occlusion", target=0, window=windows, baseline=0.3)
    full = pilotlens.explain(model, x, "occlusion", target=0, window=windows, baseline=0.3, incremental=False)
    assert_rel_close(ours.raw, full.raw)
    torch.testing.assert_close(ours.output, full.output)


def test_the_incremental_path_runs_and_splices(monkeypatch):
    # record where each window size is spliced into the clean activations
    spliced = []
    real = inc.Incremental.layout
    monkeypatch.setattr(inc.Incremental, "layout", lambda self, boxes: spliced.append(len(real(self, boxes)))
                        or real(self, boxes))
    model, x = build("pilotnet", batch=1)
    pilotlens.explain(model, x, "occlusion", target=0, window=[4, (66, 180)])
    # a small window stays incremental through several layers; a window nearly as large as the image
    # covers most of the first layer's map at once and runs full passes (spliced at step 0)
    assert spliced[0] >= 5 and spliced[1] == 0


def test_window_as_large_as_the_input_matches_captum():
    from captum.attr import Occlusion as CaptumOcclusion
    model, x = _model("vgg", (3, 20, 24))
    ref = CaptumOcclusion(model).attribute(x.clone(), sliding_window_shapes=(3, 20, 24), strides=(3, 1, 1),
                                           baselines=0.0, target=0)[:, 0]
    assert_rel_close(pilotlens.explain(model, x, "occlusion", target=0, window=(20, 24)).raw, ref)


def test_plan_reads_affine_scaling_as_element_wise():
    model = nn.Sequential(Affine(1 / 127.5, -1.0), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    model(torch.rand(1, 3, 10, 10))
    plan = inc.plan_for(model)
    assert [s.geometry is not None for s in plan.steps] == [False, False, True]  # mul, add, conv
