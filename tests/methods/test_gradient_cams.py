"""XGrad-CAM and LayerCAM against torchcam; Grad-CAM++ as published on torchcam's captured A and dS/dA;
HiResCAM against its published formula."""
import pytest
import torch
from cam_refs import LAYERS, mixed_threshold, module, steering_callables, steering_sides, upsampled
from conftest import assert_rel_close, build, captum_forward, explained_columns
from torchcam.methods import GradCAM, LayerCAM, XGradCAM

import pilotlens


def _grad_cam_pp_eq19(act, grad):
    """Grad-CAM++ as published (Chattopadhyay et al. 2018, eq. 19; pytorch-grad-cam grad_cam_plusplus.py):
    alpha_kij = G_kij^2 / (2 G_kij^2 + (sum_ab A_kab) G_kij^3), 0 where G = 0; w_k = sum_ij alpha ReLU(G);
    map = ReLU(sum_k w_k A_k). torchcam 0.5.0 is not used for the formula: its GradCAMpp sums A*G^3 over space
    in the denominator and divides a copy made by boolean indexing, so its alpha is never applied."""
    g2, g3 = grad ** 2, grad ** 3
    alpha = torch.where(grad != 0, g2 / (2 * g2 + act.sum(dim=(2, 3), keepdim=True) * g3), torch.zeros_like(g2))
    weights = (alpha * grad.clamp(min=0)).sum(dim=(2, 3), keepdim=True)
    return (weights * act).sum(dim=1).clamp(min=0)


def _torchcam(method, model, x, name, **call):
    wrapped = captum_forward(model)
    layer = module(model, LAYERS[name])
    if method == "grad_cam_pp":
        # torchcam captures A and dS/dA (its GradCAM hooks, its target handling); eq. 19 is applied here
        with GradCAM(wrapped, layer, input_shape=tuple(x.shape[1:])) as ex:
            scores = wrapped(x.clone())
            ex(scores=scores, normalized=False, **call)
            act, grad = ex.hook_a[0].double(), ex.hook_g[0].double()
        return upsampled(_grad_cam_pp_eq19(act, grad), x.shape[2:])
    if method == "x_grad_cam":
        ex, eps = XGradCAM(wrapped, layer, input_shape=tuple(x.shape[1:])), {"eps": 1e-30}
    else:
        ex, eps = LayerCAM(wrapped, layer, input_shape=tuple(x.shape[1:])), {}
    with ex:
        scores = wrapped(x.clone())
        layer_maps = ex(scores=scores, normalized=False, **eps, **call)[0]
    return upsampled(layer_maps, x.shape[2:])


@pytest.mark.parametrize("method", ["grad_cam_pp", "x_grad_cam", "layer_cam"])
def test_matches_torchcam_for_a_column_or_class(case, method):
    name, model, x = case
    cols = explained_columns(name, model, x)
    ref = _torchcam(method, model, x, name, class_idx=cols)
    sal = pilotlens.explain(model, x, method, layer=LAYERS[name], target=None if name == "gap" else cols[0])
    assert_rel_close(sal.raw, ref)


@pytest.mark.parametrize("method", ["grad_cam_pp", "x_grad_cam", "layer_cam"])
@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested"])
def test_steering_target_matches_torchcam_with_per_image_targets(method, name):
    model, x = build(name, batch=3)
    out = captum_forward(model)(x)
    threshold = mixed_threshold(out)
    sides = steering_sides(out, threshold)
    assert len(set(sides)) >= 2, "the batch must mix steering sides for this test to mean something"
    ref = _torchcam(method, model, x, name, targets=steering_callables(sides))
    sal = pilotlens.explain(model, x, method, layer=LAYERS[name], target=pilotlens.Steering(threshold))
    assert_rel_close(sal.raw, ref)


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested"])
def test_hires_cam_is_the_elementwise_gradient_times_activation(name):
    # pytorch-grad-cam hirescam.py: cam = (grads * activations).sum(axis=1), then np.maximum(cam, 0) in BaseCAM;
    # Draelos & Carin 2020, eq. 3. A and G by hand: split the model at the layer.
    model, x = build(name, batch=3)
    layer = module(model, LAYERS[name])
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    out = captum_forward(model)(x)
    handle.remove()
    (grad,) = torch.autograd.grad(out[:, 0].sum(), store["a"])
    hand = (grad * store["a"]).sum(1).detach()
    for signed in (False, True):
        sal = pilotlens.explain(model, x, "hires_cam", layer=LAYERS[name], target=0, signed=signed)
        assert_rel_close(sal.raw, upsampled(hand if signed else hand.clamp(min=0), x.shape[2:]))


def test_hires_cam_equals_grad_cam_when_the_gradient_is_spatially_constant():
    # Draelos & Carin's observation: after the layer comes only a global average pool + linear head, so dS/dA is
    # constant over space; Grad-CAM weights A by mean(G), HiResCAM by G itself, and the two maps agree
    model, x = build("gap", batch=2)
    pool_input = "4"  # the ReLU feeding the global pool: its gradient is the head weight / (h*w) everywhere
    hires = pilotlens.explain(model, x, "hires_cam", layer=pool_input, target=1, signed=True).raw
    grad = pilotlens.explain(model, x, "grad_cam", layer=pool_input, target=1, signed=True).raw
    assert_rel_close(hires, grad)


@pytest.mark.parametrize("method", ["grad_cam_pp", "x_grad_cam", "hires_cam", "layer_cam"])
def test_signed_keeps_both_signs_and_unsigned_is_its_relu_at_layer_resolution(method):
    model, x = build("pilotnet", batch=2)
    signed = pilotlens.explain(model, x, method, target="steering", signed=True)
    plain = pilotlens.explain(model, x, method, target="steering")
    assert pilotlens.explainer(model, method, signed=True).is_signed()
    assert not pilotlens.explainer(model, method).is_signed()
    assert (plain.raw >= signed.raw - 1e-6 * signed.raw.abs().max()).all()
    assert (plain.raw >= 0).all()
