"""Eigen-CAM and EigenGrad-CAM against pytorch-grad-cam's formula (utils/svd_on_activations.py,
get_2d_projection with the sign correction of get_2d_projection_with_sign_correction: centre the pixels x
channels matrix on its channel means, project on VT[0] of numpy's SVD, flip if |min| > |max|; BaseCAM then
takes np.maximum(cam, 0)), computed here with numpy per image; and on a rank-one case worked out by hand."""
import numpy as np
import pytest
import torch
from cam_refs import LAYERS, module, upsampled
from conftest import assert_rel_close, build, captum_forward

import pilotlens


def _projection(maps: np.ndarray) -> np.ndarray:
    out = []
    for a in maps:
        flat = a.reshape(a.shape[0], -1).T
        flat = flat - flat.mean(axis=0)
        _, _, vt = np.linalg.svd(flat, full_matrices=True)
        proj = (flat @ vt[0]).reshape(a.shape[1:])
        out.append(-proj if abs(proj.min()) > abs(proj.max()) else proj)
    return np.maximum(np.stack(out), 0)


def _layer(model, x, name, col):
    layer = module(model, LAYERS[name])
    store = {}
    h = layer.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    out = captum_forward(model)(x)
    h.remove()
    (g,) = torch.autograd.grad(out[:, col].sum(), store["a"])
    return store["a"].detach().double().numpy(), g.double().numpy()


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested", "gap"])
def test_eigen_cams_match_the_numpy_projection(name):
    model, x = build(name, batch=2)
    col = 1 if name in ("donkey", "gap") else 0
    act, grad = _layer(model, x, name, col)
    eigen = pilotlens.explain(model, x, "eigen_cam", layer=LAYERS[name])
    assert_rel_close(eigen.raw, upsampled(torch.from_numpy(_projection(act)), x.shape[2:]), rel=1e-4)
    eigen_grad = pilotlens.explain(model, x, "eigen_grad_cam", layer=LAYERS[name], target=col)
    assert_rel_close(eigen_grad.raw, upsampled(torch.from_numpy(_projection(grad * act)), x.shape[2:]), rel=1e-4)


def test_rank_one_activations_give_the_centred_spatial_pattern():
    # A_k(i, j) = v_k s(i, j): the centred matrix is (s - mean s) v^T, its first component is v / |v|, and the
    # projection is |v| (s - mean s), sign-corrected, then ReLU
    from pilotlens.methods.eigen_cam import first_component
    s = torch.tensor([[0.0, 1.0, 4.0], [2.0, 0.5, 0.0]], dtype=torch.float64)
    v = torch.tensor([3.0, -1.0, 2.0, 0.5], dtype=torch.float64)
    centred = (s - s.mean()) * v.norm()
    expected = centred if centred.max() >= -centred.min() else -centred
    got = first_component((v.view(4, 1, 1) * s).unsqueeze(0))[0]
    assert_rel_close(got, expected)


def test_eigen_cam_ignores_the_target():
    model, x = build("pilotnet", batch=2)
    a = pilotlens.explain(model, x, "eigen_cam", target="left").raw
    b = pilotlens.explain(model, x, "eigen_cam", target="right").raw
    assert torch.equal(a, b)
