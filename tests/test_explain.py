"""Properties every method shares: batches, flat inputs, clear errors, the registry."""
import pytest
import torch
from conftest import CASES, build

import pilotlens
from pilotlens.layout import arrange

ALL = pilotlens.methods()
FAST_OPTIONS = {"occlusion": {"window": 12, "stride": 8}, "integrated_gradients": {"steps": 4},
                "smoothgrad": {"samples": 3}, "ss_cam": {"samples": 2}, "is_cam": {"samples": 2},
                "rise": {"masks": 40}}
# one masked forward pass per channel (or mask) and image: the small nested model keeps these fast
_NESTED = {"score_cam", "ss_cam", "is_cam", "ablation_cam", "rise"}


def _case_for(method):
    return "gap" if method == "cam" else "nested" if method in _NESTED else "pilotnet"


@pytest.mark.parametrize("method", ALL)
def test_maps_of_a_batch_equal_maps_of_each_image_alone(method):
    model, x = build(_case_for(method), batch=3)
    opts = FAST_OPTIONS.get(method, {})
    batch = pilotlens.explain(model, x, method, **opts)
    assert batch.maps.shape == (3, *x.shape[2:]) and batch.maps.dtype == torch.float32
    assert batch.maps.min() >= 0 and batch.maps.max() <= 1
    for i in range(3):
        alone = pilotlens.explain(model, x[i:i + 1], method, **opts)
        torch.testing.assert_close(batch.raw[i:i + 1], alone.raw, rtol=1e-4, atol=1e-6 * batch.raw.abs().max().item())
        torch.testing.assert_close(batch.output[i:i + 1], alone.output)


@pytest.mark.parametrize("method", ALL)
def test_flat_input_never_gives_nan(method):
    model, _ = build(_case_for(method), batch=2)
    x = torch.full((2, *CASES[_case_for(method)][1]), 0.5)
    sal = pilotlens.explain(model, x, method, **FAST_OPTIONS.get(method, {}))
    assert torch.isfinite(sal.maps).all() and torch.isfinite(sal.raw).all()


# visual_backprop is absent on purpose: on a flat image its map is the coverage pattern of the
# stacked kernel windows (border pixels are covered by fewer windows), which the algorithm keeps.
@pytest.mark.parametrize("method,options", [
    ("grad_cam", {}), ("activation", {}), ("hypercolumns", {}),
    ("occlusion", {"baseline": 0.5, "window": 12, "stride": 8}),
    ("integrated_gradients", {"baseline": 0.5, "steps": 4}),
])
def test_flat_input_gives_zeros_where_the_method_sees_nothing(method, options):
    # PilotNet has no padding, so a flat image gives spatially flat feature maps: nothing stands out
    model, _ = build("pilotnet", batch=2)
    sal = pilotlens.explain(model, torch.full((2, 3, 66, 200), 0.5), method, **options)
    assert torch.count_nonzero(sal.maps) == 0


def test_unknown_method_lists_the_methods():
    model, x = build("pilotnet", batch=1)
    with pytest.raises(ValueError, match="grad_cam.*visual_backprop"):
        pilotlens.explain(model, x, "gradcam++")


def test_unknown_option_lists_the_valid_ones():
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(TypeError, match="window"):
        pilotlens.explainer(model, "occlusion", windw=3)


def test_unknown_layer_lists_the_layers():
    model, x = build("donkey", batch=1)
    with pytest.raises(ValueError, match="features.8 \\(Conv2d\\)"):
        pilotlens.explain(model, x, "grad_cam", layer="conv9")


def test_conv_method_on_a_model_without_conv_layers():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 2))
    with pytest.raises(ValueError, match="no Conv2d.*Linear"):
        pilotlens.explain(model, torch.rand(1, 3, 4, 4), "grad_cam")


@pytest.mark.parametrize("bad,error,words", [
    (torch.rand(3, 66, 200), ValueError, "unsqueeze"),
    (torch.rand(1, 66, 200, 3, 1), ValueError, "B x C x H x W"),
    (torch.rand(1, 1, 66, 200), ValueError, "first convolution takes 3"),
    (torch.rand(2, 66, 200, 3), ValueError, "channels-last.*permute"),   # a Keras-style batch
    (torch.zeros(1, 3, 66, 200, dtype=torch.uint8), TypeError, "floating"),
    ([[0.0]], TypeError, "torch.Tensor"),
])
def test_wrong_inputs_get_clear_errors(bad, error, words):
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(error, match=words):
        pilotlens.explain(model, bad, "gradient")


def test_layer_on_an_input_method_is_refused():
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(ValueError, match="takes no layer"):
        pilotlens.explainer(model, "gradient", layer="8")


def test_explainer_is_reusable_and_closes():
    model, x = build("pilotnet", batch=2)
    with pilotlens.explainer(model, "grad_cam", layer="6") as ex:
        a, b = ex(x, target=0), ex(x, target="steering:0.1")
    assert a.layer == b.layer == "6" and a.target == "index 0" and b.target.startswith("steering")
    with pytest.raises(RuntimeError, match="closed"):
        ex(x)


def test_a_callable_target_must_return_one_score_per_image():
    model, x = build("donkey", batch=2)
    with pytest.raises(ValueError, match="one score per image"):
        pilotlens.explain(model, x, "gradient", target=lambda out: out)
    by_fn = pilotlens.explain(model, x, "gradient", target=lambda out: out[:, 1])
    assert torch.equal(by_fn.raw, pilotlens.explain(model, x, "gradient", target=1).raw)


def test_tuple_outputs_are_concatenated():
    model, x = build("donkey", batch=2)
    sal = pilotlens.explain(model, x, "visual_backprop")
    angle, throttle = model(arrange(model, x))  # the batch as pilotlens runs it: the same sums, to the bit
    assert torch.equal(sal.output, torch.cat([angle, throttle], 1).detach())


# -- the method spec every verb takes works in the Python API too -------------------------------
def test_a_spec_string_equals_keyword_options():
    model, x = build("pilotnet", batch=2)
    by_spec = pilotlens.explain(model, x, "grad_cam:signed=true")
    by_keyword = pilotlens.explain(model, x, "grad_cam", signed=True)
    unsigned = pilotlens.explain(model, x, "grad_cam")
    assert by_spec.signed and by_keyword.signed and not unsigned.signed
    assert torch.equal(by_spec.raw, by_keyword.raw) and torch.equal(by_spec.maps, by_keyword.maps)
    assert (by_spec.raw < 0).any() and not torch.equal(by_spec.raw, unsigned.raw)   # the option took effect


def test_a_spec_string_names_the_layer_and_builds_an_explainer():
    model, x = build("pilotnet", batch=1)
    in_spec = pilotlens.explain(model, x, "grad_cam:layer=6")
    assert in_spec.layer == "6"
    assert torch.equal(in_spec.raw, pilotlens.explain(model, x, "grad_cam", layer="6").raw)
    with pilotlens.explainer(model, "occlusion:window=8,stride=8") as ex:
        assert ex.options["window"] == 8 and ex.options["stride"] == 8
        by_spec = ex(x)
    assert torch.equal(by_spec.raw, pilotlens.explain(model, x, "occlusion", window=8, stride=8).raw)


@pytest.mark.parametrize("spec,method,kwargs,error", [
    ("occlusion:windw=3", "occlusion", {"windw": 3}, TypeError),            # unknown option
    ("grad_cam:signed=perhaps", "grad_cam", {"signed": "perhaps"}, ValueError),   # ill-typed value
    ("occlusion:window=(8,8,8)x", "occlusion", {"window": "(8,8,8)x"}, ValueError),
    ("gradient:layer=6", "gradient", {"layer": "6"}, ValueError),           # a layer for an input method
    ("gradcam:signed=true", "gradcam", {"signed": True}, ValueError),       # unknown method
])
def test_a_mistake_gives_the_same_message_in_either_form(spec, method, kwargs, error):
    model, x = build("pilotnet", batch=1)
    messages = []
    for call in (lambda: pilotlens.explain(model, x, spec), lambda: pilotlens.explain(model, x, method, **kwargs),
                 lambda: pilotlens.explainer(model, spec), lambda: pilotlens.explainer(model, method, **kwargs)):
        with pytest.raises(error) as caught:
            call()
        messages.append(str(caught.value))
    assert len(set(messages)) == 1, messages


def test_a_layer_index_is_resolved_per_call_without_changing_the_explainer():
    model, x = build("pilotnet", batch=2)
    by_name = pilotlens.explain(model, x, "grad_cam", layer="6")
    with pilotlens.explainer(model, "grad_cam", layer=6) as ex:   # the 7th traced layer is the module "6"
        before = dict(vars(ex))
        sal = ex(x)
        assert dict(vars(ex)) == before and ex.layer is None
    assert sal.layer == "6" and torch.equal(sal.raw, by_name.raw)


def test_the_methods_package_imports_by_its_dotted_name_and_lists_the_methods():
    # `pilotlens.methods` is the package, callable: a function of that name had shadowed it, and
    # `import pilotlens.methods.grad_cam as m` failed with "cannot import name 'grad_cam' from 'methods'"
    import pilotlens.methods.grad_cam as grad_cam_module
    assert grad_cam_module.GradCAM.name == "grad_cam"
    assert pilotlens.methods() == sorted(pilotlens.methods.REGISTRY)
    assert {"grad_cam", "visual_backprop", "gradient"} <= set(pilotlens.methods())
