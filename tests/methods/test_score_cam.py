"""Score-CAM, SS-CAM and IS-CAM against torchcam's ScoreCAM, SSCAM and ISCAM (same normalisation, masks and
softmax; torchcam's layer-resolution map upsampled bilinearly, as pilotlens does)."""
import pytest
import torch
from cam_refs import LAYERS, mixed_threshold, module, steering_callables, steering_sides, upsampled
from conftest import assert_rel_close, build, captum_forward, explained_columns
from torchcam.methods import ISCAM, SSCAM, ScoreCAM

import pilotlens

SAMPLES = 3


class _SameNoise:
    """torchcam's noise source replaced by pilotlens's: sample s of every image gets the same C x H x W noise."""

    def __init__(self, noises):
        self.noises = iter(noises)

    def sample(self, size):
        return next(self.noises).expand(size)


def _noises(x, channels, seed=0, std=2.0):
    gen = torch.Generator().manual_seed(seed)
    return [std * torch.randn((channels, *x.shape[2:]), generator=gen) for _ in range(SAMPLES)]


def _torchcam(method, model, x, name, **call):
    wrapped = captum_forward(model)
    layer = module(model, LAYERS[name])
    shape = tuple(x.shape[1:])
    if method == "score_cam":
        ex = ScoreCAM(wrapped, layer, batch_size=64, input_shape=shape)
    elif method == "is_cam":
        ex = ISCAM(wrapped, layer, batch_size=64, num_samples=SAMPLES, input_shape=shape)
    else:
        ex = SSCAM(wrapped, layer, batch_size=64, num_samples=SAMPLES, std=2.0, input_shape=shape)
    with ex, torch.no_grad():
        wrapped(x.clone())
        if method == "ss_cam":
            ex._distrib = _SameNoise(_noises(x, ex.hook_a[0].shape[1]))
        layer_maps = ex(normalized=False, **call)[0]
    return upsampled(layer_maps, x.shape[2:])


def _options(method):
    return {"batch_size": 50} | ({"samples": SAMPLES} if method != "score_cam" else {})


def _cases():
    """Every model and method; on the big models (64 channels at 66 x 200 / 120 x 160) a masked forward per
    channel, image and sample takes seconds on a shared CPU, so those are slow checks."""
    for name in ("gap", "nested", "pilotnet", "donkey"):
        for method in ("score_cam", "ss_cam", "is_cam"):
            big = name in ("pilotnet", "donkey")
            yield pytest.param(name, method, marks=[pytest.mark.slow] if big else [], id=f"{name}-{method}")


@pytest.mark.parametrize("name,method", list(_cases()))
def test_matches_torchcam_for_a_column_or_class(name, method):
    model, x = build(name, batch=3 if method == "score_cam" else 2)
    cols = explained_columns(name, model, x)
    ref = _torchcam(method, model, x, name, class_idx=cols)
    sal = pilotlens.explain(model, x, method, layer=LAYERS[name], target=None if name == "gap" else cols[0],
                            **_options(method))
    assert_rel_close(sal.raw, ref)


@pytest.mark.parametrize("method", ["score_cam", "ss_cam", "is_cam"])
@pytest.mark.parametrize("name", [pytest.param("pilotnet", marks=pytest.mark.slow), "nested"])
def test_steering_target_matches_torchcam_with_per_image_targets(method, name):
    model, x = build(name, batch=3)
    out = captum_forward(model)(x)
    threshold = mixed_threshold(out)
    sides = steering_sides(out, threshold)
    assert len(set(sides)) >= 2
    ref = _torchcam(method, model, x, name, targets=steering_callables(sides))
    sal = pilotlens.explain(model, x, method, layer=LAYERS[name], target=pilotlens.Steering(threshold),
                            **_options(method))
    assert_rel_close(sal.raw, ref)


@pytest.mark.slow
def test_donkey_steering_on_the_angle_head():
    model, x = build("donkey", batch=2)
    out = captum_forward(model)(x)
    sides = steering_sides(out, 0.0)
    ref = _torchcam("score_cam", model, x, "donkey", targets=steering_callables(sides))
    sal = pilotlens.explain(model, x, "score_cam", layer=LAYERS["donkey"], target=pilotlens.Steering(0.0))
    assert_rel_close(sal.raw, ref)


def test_batch_size_does_not_change_the_map():
    model, x = build("nested", batch=2)
    a = pilotlens.explain(model, x, "ss_cam", target=0, samples=2, batch_size=1).raw
    b = pilotlens.explain(model, x, "ss_cam", target=0, samples=2, batch_size=1000).raw
    assert_rel_close(a, b)


@pytest.mark.parametrize("method,option", [("score_cam", {"batch_size": 0}), ("ss_cam", {"samples": 0}),
                                           ("ss_cam", {"noise": -1.0}), ("is_cam", {"samples": 0})])
def test_bad_options_are_named(method, option):
    model, _ = build("nested", batch=1)
    with pytest.raises(ValueError, match=next(iter(option))):
        pilotlens.explainer(model, method, **option)


@pytest.mark.parametrize("method", ["score_cam", "is_cam"])
def test_dead_channels_share_one_pass_and_still_match_torchcam(method):
    model, x = build("gap", batch=3)
    with torch.no_grad():
        model[3].bias[:5] = -100.0   # channels 0-4 of the ReLU after it are dead for every image
    LAYERS["gap_relu"] = "4"
    try:
        cols = explained_columns("gap", model, x)
        ref = _torchcam(method, model, x, "gap_relu", class_idx=cols)
    finally:
        del LAYERS["gap_relu"]
    sal = pilotlens.explain(model, x, method, layer="4", **_options(method))
    assert_rel_close(sal.raw, ref)
