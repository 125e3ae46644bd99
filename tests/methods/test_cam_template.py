"""The shared CAM steps (cam_template.py), and what every method of this family promises: no hook after an
exception, the target's label, in-place activations and several layers captured in one pass."""
import pytest
import torch
from cam_refs import upsampled
from conftest import assert_rel_close, build, inplace_relu_net
from test_hooks import _hook_count

import pilotlens
from pilotlens.hooks import HookSet

NEW = ["grad_cam_pp", "x_grad_cam", "hires_cam", "layer_cam", "score_cam", "ss_cam", "is_cam", "ablation_cam",
       "eigen_cam", "eigen_grad_cam", "full_grad", "fusion", "input_x_gradient", "deeplift", "lrp", "rise"]
FAST = {"ss_cam": {"samples": 1}, "is_cam": {"samples": 1}, "rise": {"masks": 8}}


@pytest.mark.parametrize("method", NEW)
def test_an_exception_inside_a_call_leaves_no_hook(method):
    model, x = build("nested", batch=2)

    def explode(output):
        raise RuntimeError("boom")
    if method == "eigen_cam":   # reads no target: make the model fail instead
        with pytest.raises(ValueError):
            pilotlens.explain(model, torch.rand(2, 3, 5, 5), method)
    else:
        with pytest.raises(RuntimeError, match="boom"):
            pilotlens.explain(model, x, method, target=explode, **FAST.get(method, {}))
    assert _hook_count(model) == 0 and not model.training


@pytest.mark.parametrize("method", NEW)
def test_every_method_takes_a_steering_target_and_says_so(method):
    model, x = build("nested", batch=2)
    sal = pilotlens.explain(model, x, method, target="steering:0.01", **FAST.get(method, {}))
    assert sal.target.startswith("steering") and torch.isfinite(sal.raw).all()


def test_capture_layers_gives_each_layers_activation_and_a_graph_from_the_first():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True), torch.nn.Conv2d(4, 5, 3),
                                torch.nn.ReLU(inplace=True), torch.nn.Flatten(), torch.nn.LazyLinear(1)).eval()
    x = torch.rand(2, 3, 10, 10)
    model(x)
    explainer = pilotlens.explainer(model, "fusion", layers=["0", "2"])
    with HookSet() as hooks:
        (a0, a2), out = explainer.capture_layers(x, hooks, explainer.chosen)
        g0, g2 = torch.autograd.grad(out[:, 0].sum(), [a0, a2])
    # by hand: the conv outputs before the in-place ReLUs, and the gradients at them
    h0 = model[0](x).detach().requires_grad_(True)
    h2 = model[2](torch.relu(h0))
    s = model[5](model[4](torch.relu(h2)))[:, 0].sum()
    r0, r2 = torch.autograd.grad(s, [h0, h2])
    for ours, ref in ((a0, h0), (a2, h2), (g0, r0), (g2, r2)):
        assert_rel_close(ours, ref)


def test_hires_cam_after_an_inplace_activation():
    model, x = inplace_relu_net()
    A = model[0](x).detach().requires_grad_()
    (g,) = torch.autograd.grad(model[3](model[2](torch.relu(A)))[:, 0].sum(), A)
    sal = pilotlens.explain(model, x, "hires_cam", layer="0", signed=True)
    assert_rel_close(sal.raw, upsampled((g * A).sum(1).detach(), (10, 10)))
