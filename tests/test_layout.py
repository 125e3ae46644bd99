"""The layout explainers run a model's forward pass in (pilotlens/layout.py): channels_last where the model
takes it, the batch as given where it cannot, and the same maps either way."""
import gc
import weakref

import pytest
import torch
from captum.attr import Saliency as CaptumSaliency
from conftest import assert_rel_close, build, captum_forward, inplace_relu_net
from torch import nn

import pilotlens
from pilotlens.layout import ENV, arrange, decide

CL = torch.channels_last


class ViewAfterConv(nn.Module):
    """Flattens with .view, which raises on a channels_last activation."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3, 2), nn.Linear(4 * 7 * 9, 2)

    def forward(self, x):
        a = torch.relu(self.conv(x))
        return self.fc(a.view(a.shape[0], -1))


class ReadsMemory(ViewAfterConv):
    """Flattens by reading the activation's memory in storage order: on a channels_last activation that is
    another order, so the output changes with no error."""

    def forward(self, x):
        a = torch.relu(self.conv(x))
        return self.fc(a.as_strided((a.shape[0], a[0].numel()), (a[0].numel(), 1)))


class InsistsOnNCHW(ViewAfterConv):
    def forward(self, x):
        assert x.is_contiguous(), "this model wants NCHW memory"
        return super().forward(x)


def _seeded(cls):
    torch.manual_seed(0)
    return cls().eval(), torch.rand(2, 3, 16, 20)


def test_a_conv_net_runs_channels_last_with_its_output_to_rounding():
    model, x = build("pilotnet")  # build decides the layout
    assert decide(model, x)
    xc = arrange(model, x)
    assert xc.is_contiguous(memory_format=CL) and not xc.is_contiguous()
    torch.testing.assert_close(model(xc), model(x), rtol=1e-5, atol=1e-6)
    sal = pilotlens.explain(model, x, "visual_backprop")
    assert torch.equal(sal.output, model(xc).detach())  # the explainer's pass is that one


@pytest.mark.parametrize("cls", [ViewAfterConv, ReadsMemory, InsistsOnNCHW])
def test_a_model_the_layout_cannot_serve_runs_the_batch_as_given(cls, monkeypatch):
    model, x = _seeded(cls)
    assert not decide(model, x)
    assert arrange(model, x) is x
    for method in ("gradient", "visual_backprop"):
        fast = pilotlens.explain(model, x, method, target=0)
        monkeypatch.setenv(ENV, "0")
        plain = pilotlens.explain(model, x, method, target=0)
        monkeypatch.delenv(ENV)
        assert torch.equal(fast.raw, plain.raw) and torch.equal(fast.output, plain.output)
    assert torch.equal(fast.output, model(x).detach())


def _unusual_layers():
    """Dilated, grouped, reflect-padded convs, batch norm, max pooling and an in-place ReLU."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, 2, dilation=2), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
                          nn.Conv2d(6, 6, 3, groups=3), nn.MaxPool2d(2), nn.ELU(),
                          nn.Conv2d(6, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.Flatten(),
                          nn.LazyLinear(2))
    x = torch.rand(2, 3, 37, 45)
    model(x)
    return model.eval(), x


@pytest.mark.parametrize("make", [inplace_relu_net, _unusual_layers])
def test_models_with_in_place_ops_and_unusual_layers_take_the_layout(make, monkeypatch):
    model, x = make()
    assert decide(model, x)
    sal = pilotlens.explain(model, x, "gradient", target=0)
    assert torch.equal(sal.output, model(arrange(model, x)).detach())
    ref = CaptumSaliency(captum_forward(model)).attribute(x.clone(), target=0, abs=True).amax(1)
    assert_rel_close(sal.raw, ref)
    monkeypatch.setenv(ENV, "0")  # the batch as given: captum on it agrees the same way
    ref = CaptumSaliency(captum_forward(model, arranged=False)).attribute(x.clone(), target=0, abs=True).amax(1)
    assert_rel_close(pilotlens.explain(model, x, "gradient", target=0).raw, ref)


def test_the_memory_reading_model_does_change_with_the_layout():
    # what the probe guards against is real: this model's output is wrong on a channels_last batch
    model, x = _seeded(ReadsMemory)
    with torch.no_grad():
        assert (model(x.contiguous(memory_format=CL)) - model(x)).abs().max() > 1e-3


def test_what_is_left_as_given():
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 1)).eval()  # no conv: nothing to gain
    x = torch.rand(2, 3, 4, 5)
    assert not decide(linear, x) and arrange(linear, x) is x
    model, x = build("pilotnet")
    for odd in (x[0], x.double().to(torch.int32)):  # not a batch; not floating point
        assert not decide(model, odd) and arrange(model, odd) is odd


def test_the_environment_switch_runs_the_batch_as_given(monkeypatch):
    monkeypatch.setenv(ENV, "0")
    model, x = build("donkey")
    assert not decide(model, x) and arrange(model, x) is x
    ref = CaptumSaliency(captum_forward(model, arranged=False)).attribute(x.clone(), target=1, abs=True).amax(1)
    assert_rel_close(pilotlens.explain(model, x, "gradient", target=1).raw, ref)


def test_the_model_runs_both_ways_once_per_input_shape():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    x = torch.rand(2, 3, 16, 20)
    model(x)
    model.eval()
    layouts = []
    model[0].register_forward_pre_hook(lambda _m, inp: layouts.append(inp[0].is_contiguous()))
    ex = pilotlens.explainer(model, "gradient")  # one forward per call, no tracing
    ex(x)
    assert layouts == [True, False, False]  # the probe (as given, channels_last), then the explanation
    ex(x[:1])                               # another batch size: the same decision
    assert layouts[3:] == [False]
    y = torch.rand(2, 3, 16, 24)
    pilotlens.explain(nn.Sequential(*model[:3], nn.Linear(4 * 7 * 11, 1)).eval(), y, "gradient")
    assert layouts[4:] == [True, False, False]  # a new shape: asked again


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested", "gap"])
@pytest.mark.parametrize("method", ["visual_backprop", "activation"])
def test_forward_only_maps_agree_across_layouts(name, method, monkeypatch):
    # these maps are continuous in the activations: the layouts' different rounding moves them by rounding
    model, x = build(name)
    fast = pilotlens.explain(model, x, method)
    monkeypatch.setenv(ENV, "0")
    assert_rel_close(fast.raw, pilotlens.explain(model, x, method).raw)


def test_the_decision_keeps_no_model_alive():
    model, x = build("nested")
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
