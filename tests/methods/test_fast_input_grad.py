"""The fast input gradient (strided first convs backpropagated by forward convolutions) against
PyTorch's own backward, on layers and models it must take and ones it must refuse."""
import pytest
import torch
from conftest import assert_rel_close, build
from torch import nn

import pilotlens
from pilotlens.layout import arrange
from pilotlens.methods import _fast_input_grad as fast
from pilotlens.methods._fast_input_grad import conv_input_grad, fast_convs, input_grad, takes_fast_backward


@pytest.mark.parametrize("cin,k,stride,padding,size", [
    (3, 5, (2, 2), (0, 0), (66, 200)),   # PilotNet's first layer
    (3, 5, (2, 2), (2, 2), (31, 40)),    # padded, odd sizes: the last row is in no window
    (1, 8, (4, 4), (0, 0), (84, 84)),    # Atari-style gray input, kernel a multiple of the stride
    (4, 3, (2, 3), (1, 0), (17, 29)),    # different strides per axis, kernel not a multiple of either
    (3, 1, (2, 2), (0, 0), (9, 10)),     # 1x1 strided
    (2, 7, (3, 2), (3, 1), (23, 19)),
])
def test_conv_input_grad_is_the_conv_transpose(cin, k, stride, padding, size):
    torch.manual_seed(0)
    w = torch.randn(6, cin, k, k, dtype=torch.float64)
    x = torch.randn(2, cin, *size, dtype=torch.float64)
    g = torch.randn_like(torch.nn.functional.conv2d(x, w, stride=stride, padding=padding))
    ref = torch.nn.grad.conv2d_input(x.shape, w, g, stride, padding)
    assert_rel_close(conv_input_grad(g, w, stride, padding, size), ref, rel=1e-12)


def test_detection_takes_plain_strided_convs_with_few_channels():
    take = [nn.Conv2d(3, 24, 5, 2), nn.Conv2d(1, 8, 8, 4, padding=2), nn.Conv2d(4, 8, 3, (1, 2))]
    refuse = [nn.Conv2d(3, 24, 5, 1),                       # stride 1: oneDNN's backward is as fast
              nn.Conv2d(24, 36, 5, 2),                      # many input channels
              nn.Conv2d(3, 24, 5, 2, dilation=2), nn.Conv2d(3, 6, 5, 2, groups=3),
              nn.Conv2d(3, 8, 5, 1, padding="same"), nn.Conv2d(3, 8, 5, 2, padding=2, padding_mode="reflect"),
              type("MyConv", (nn.Conv2d,), {})(3, 8, 5, 2), nn.Linear(3, 4), nn.MaxPool2d(2)]
    assert all(takes_fast_backward(m) for m in take)
    assert not any(takes_fast_backward(m) for m in refuse)


class ViewsAndInPlace(nn.Module):
    """A first conv the fast path takes, then what would break a layout change: .view, in-place ops, the
    same conv twice, a skip connection."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 5, 2, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.mid = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.LazyLinear(2)

    def forward(self, x):
        a = self.act(self.stem(x))
        a = a + self.act(self.mid(a))
        a.mul_(0.5)
        b = self.act(self.stem(x.flip(-1)))  # the stem a second time
        return self.fc(torch.cat([a, b], 1).view(x.shape[0], -1))


class Unusual(nn.Module):
    """Nothing the fast path takes: a dilated, a grouped and a reflect-padded conv."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, 2, dilation=2), nn.ELU(), nn.Conv2d(6, 6, 3, 2, groups=3),
                                  nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1, padding_mode="reflect"), nn.Flatten(),
                                  nn.LazyLinear(1))

    def forward(self, x):
        return self.body(x)


def _model(name):
    if name in ("pilotnet", "donkey", "nested"):
        return build(name, batch=2)
    torch.manual_seed(0)
    model = {"views": ViewsAndInPlace, "unusual": Unusual}[name]().double()
    x = torch.rand(2, 3, 37, 45, dtype=torch.float64)
    model(x)
    return model.eval(), x


def _plain_gradient(model, x, column):
    # the batch laid out as pilotlens ran it (the explainer decided the layout first): the same forward sums,
    # so only the backward differs
    xg = arrange(model, x.clone()).requires_grad_(True)
    out = model(xg)
    out = torch.cat(out, 1) if isinstance(out, tuple) else out
    (g,) = torch.autograd.grad(out[:, column].sum(), xg)
    return g.abs().amax(dim=1)


@pytest.mark.parametrize("name,taken", [("pilotnet", 1), ("donkey", 1), ("views", 1), ("nested", 0), ("unusual", 0)])
def test_gradient_equals_the_plain_backward(name, taken, monkeypatch):
    model, x = _model(name)
    assert len(fast_convs(model)) == taken
    calls = []
    monkeypatch.setattr(fast, "conv_input_grad", lambda *a: calls.append(1) or conv_input_grad(*a))
    sal = pilotlens.explain(model, x, "gradient", target=0)
    assert len(calls) == {"views": 2}.get(name, taken)  # the views model runs its stem twice
    assert_rel_close(sal.raw, _plain_gradient(model, x, 0))
    assert all(not m._forward_hooks for m in model.modules()), "a hook stayed on the model"


def test_guided_backprop_equals_captum_through_the_fast_path():
    from captum.attr import GuidedBackprop
    model, x = _model("views")
    assert fast_convs(model)
    ref = GuidedBackprop(model).attribute(x.clone(), target=1).abs().amax(dim=1)
    assert_rel_close(pilotlens.explain(model, x, "guided_backprop", target=1).raw, ref)


def test_conv_input_grad_comes_back_channels_last_and_the_channel_max_is_exact():
    """The depth-to-space step writes channels_last memory (whole (b, c) blocks move); the gradient methods'
    channel-by-channel max over |grad| then equals abs().amax(dim=1), NaN included."""
    from pilotlens.methods.base import channel_max_abs
    torch.manual_seed(1)
    w, x = torch.randn(24, 3, 5, 5), torch.randn(4, 3, 66, 200)
    g = torch.randn_like(torch.nn.functional.conv2d(x, w, stride=2))
    grad = conv_input_grad(g, w, (2, 2), (0, 0), (66, 200))
    assert grad.is_contiguous(memory_format=torch.channels_last) and not grad.is_contiguous()
    assert_rel_close(grad, torch.nn.grad.conv2d_input(x.shape, w, g, (2, 2), (0, 0)))
    grad = grad.clone(memory_format=torch.channels_last)
    grad[1, 2, 5, 7] = float("nan")
    ref = grad.contiguous().abs().amax(dim=1)
    got = channel_max_abs(grad)
    assert torch.equal(got.isnan(), ref.isnan()) and got.isnan().sum() == 1
    assert torch.equal(torch.nan_to_num(got), torch.nan_to_num(ref))
    assert torch.equal(torch.nan_to_num(channel_max_abs(grad.contiguous())), torch.nan_to_num(ref))  # NCHW: amax


@pytest.mark.parametrize("conv", [nn.Conv2d(3, 8, 5, stride=2), nn.Conv2d(8, 6, 3, padding=2, dilation=2, groups=2),
                                  nn.Conv2d(6, 4, 3, padding=1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_input_grad_is_autograds_input_gradient(conv, channels_last):
    x = torch.rand(2, conv.in_channels, 13, 17)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xg = x.clone().requires_grad_(True)
    out = conv(xg)
    g = torch.randn_like(out)
    (ref,) = torch.autograd.grad(out, xg, g)
    torch.testing.assert_close(input_grad(conv, g, conv.weight.detach(), x.shape), ref, rtol=1e-5, atol=1e-5)
