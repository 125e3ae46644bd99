"""DeepLIFT (rescale) and input x gradient against captum's DeepLift and InputXGradient."""
import warnings

import pytest
import torch
from captum.attr import DeepLift as CaptumDeepLift
from captum.attr import InputXGradient as CaptumInputXGradient
from cam_refs import mixed_threshold, steering_sides
from conftest import assert_rel_close, build, captum_forward, explained_columns

import pilotlens


def _captum_deeplift(model, x, cols, baseline):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum warns that it sets hooks; expected
        return CaptumDeepLift(captum_forward(model)).attribute(x.clone(), baselines=baseline, target=cols).sum(1)


def pooled_nested():
    """Padding, dilation, max and average pooling, odd sizes and nested blocks, with the max pool between two
    convolutions: captum 0.9's DeepLift breaks summation-to-delta when a MaxPool2d meets a ReLU (either order;
    see test_deeplift_summation_to_delta_where_captum_breaks_it), so it cannot be the reference there."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2)),
        torch.nn.Sequential(torch.nn.Conv2d(6, 8, 3, padding=2, dilation=2), torch.nn.MaxPool2d(2)),
        torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()), torch.nn.Flatten(),
        torch.nn.LazyLinear(3))
    x = torch.rand(3, 3, 37, 45)
    model(x)
    for m in model.modules():  # as conftest.build: He init so that no map is degenerate
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.uniform_(m.bias, -0.1, 0.1)
    return model.eval(), x


def _deeplift_case(name):
    if name == "pooled":
        return "nested", *pooled_nested()
    return name, *build(name)


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "pooled"])
@pytest.mark.parametrize("baseline", [0.0, 0.3])
def test_deeplift_matches_captum(name, baseline):
    name, model, x = _deeplift_case(name)
    cols = explained_columns(name, model, x)
    ref = _captum_deeplift(model, x, cols, baseline)
    sal = pilotlens.explain(model, x, "deeplift", target=None if name == "gap" else cols[0], baseline=baseline)
    assert_rel_close(sal.raw, ref)


def test_input_x_gradient_matches_captum(case):
    name, model, x = case
    cols = explained_columns(name, model, x)
    ref = CaptumInputXGradient(captum_forward(model)).attribute(x.clone(), target=cols).sum(1)
    sal = pilotlens.explain(model, x, "input_x_gradient", target=None if name == "gap" else cols[0])
    assert_rel_close(sal.raw, ref)


@pytest.mark.parametrize("method", ["deeplift", "input_x_gradient"])
@pytest.mark.parametrize("name", ["pilotnet", "donkey", "pooled"])
def test_steering_is_the_angle_attribution_times_each_images_side(method, name):
    # a frozen steering score is side * angle (right +1, left -1, centre -sign(angle)), and both methods are
    # linear in the output gradient: captum's attribution of the angle times that factor, image by image
    _, model, x = _deeplift_case(name)
    out = captum_forward(model)(x).detach()
    threshold = mixed_threshold(out)
    sides = steering_sides(out, threshold)
    assert len(set(sides)) >= 2
    if method == "deeplift":
        angle = _captum_deeplift(model, x, 0, 0.0)
    else:
        angle = CaptumInputXGradient(captum_forward(model)).attribute(x.clone(), target=0).sum(1)
    factor = torch.tensor([s if s else -float(torch.sign(out[i, 0])) for i, s in enumerate(sides)])
    sal = pilotlens.explain(model, x, method, target=pilotlens.Steering(threshold))
    assert_rel_close(sal.raw, angle * factor.view(-1, 1, 1))


@pytest.mark.parametrize("name", ["nested", "gap"])
def test_deeplift_summation_to_delta_where_captum_breaks_it(name):
    # DeepLIFT's defining property (Shrikumar et al. 2017, eq. 1): attributions sum to f(x) - f(baseline).
    # Both models have a MaxPool2d right after a ReLU; captum 0.9's sums miss the change there, pilotlens's hold
    model, x = build(name, batch=2)
    change = (model(x)[:, 1] - model(torch.full_like(x, 0.2))[:, 1]).detach()
    sal = pilotlens.explain(model, x, "deeplift", target=1, baseline=0.2)
    assert torch.allclose(sal.raw.sum(dim=(1, 2)), change, rtol=1e-4, atol=1e-5 * change.abs().max())
    theirs = _captum_deeplift(model, x, 1, 0.2).sum(dim=(1, 2)).detach()
    assert not torch.allclose(theirs, change, rtol=1e-4, atol=1e-5 * change.abs().max())


def test_deeplift_on_a_relu_then_max_pool_by_hand():
    # 4x4 input -> ReLU -> MaxPool2d(2) -> Linear(4, 1): per window, with r = ReLU(x), r' = ReLU(baseline),
    # o = max r, o' = max r', m = max(o, o'), the rescale chain sends w (m - o') to r's arg-max and w (o - m)
    # to r''s arg-max (captum's maxpool rule, deep_lift.py), and ReLU's multiplier times dx gives that dr back
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4, 1)).eval()
    x, b = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4)
    r, rb, w = x.relu()[0, 0], b.relu()[0, 0], model[3].weight.detach().view(2, 2)
    hand = torch.zeros(4, 4)
    for i in range(2):
        for j in range(2):
            win, winb = r[2 * i:2 * i + 2, 2 * j:2 * j + 2].flatten(), rb[2 * i:2 * i + 2, 2 * j:2 * j + 2].flatten()
            o, ob = win.max(), winb.max()
            top = torch.maximum(o, ob)
            a, c = int(win.argmax()), int(winb.argmax())
            hand[2 * i + a // 2, 2 * j + a % 2] += w[i, j] * (top - ob)
            hand[2 * i + c // 2, 2 * j + c % 2] += w[i, j] * (o - top)
    explainer = pilotlens.explainer(model, "deeplift")
    # a tensor baseline: go through the method's hooks directly
    from pilotlens.hooks import HookSet
    from pilotlens.methods.deeplift import add_deeplift_hooks
    with HookSet() as hooks:
        add_deeplift_hooks(model, hooks)
        both = torch.cat([x, b]).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(both).sum(), both)
    assert_rel_close(((x - b) * grad[:1])[0, 0], hand)
    assert explainer.signed


def test_deeplift_through_an_inplace_relu_and_a_tanh():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True), torch.nn.Conv2d(4, 4, 3),
                                torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.LazyLinear(2)).eval()
    x = torch.rand(2, 3, 9, 9)
    model(x)
    sal = pilotlens.explain(model, x, "deeplift", target=1)
    fresh = torch.nn.Sequential(*[torch.nn.ReLU() if isinstance(m, torch.nn.ReLU) else m for m in model]).eval()
    assert_rel_close(sal.raw, _captum_deeplift(fresh, x, 1, 0.0))
    assert pilotlens.explainer(model, "deeplift").signed and pilotlens.explainer(model, "input_x_gradient").signed
