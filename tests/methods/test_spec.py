"""One way to name a method with options."""
import pytest

from pilotlens.methods import parse_method, parse_methods


def test_spec_with_options_and_layer():
    spec = parse_method("occlusion:window=(8,16),stride=4")
    assert spec.name == "occlusion" and spec.options == {"window": "(8,16)", "stride": "4"} and spec.layer is None
    grad = parse_method("grad_cam:layer=features.8,signed=true", layer="conv1")
    assert grad.layer == "features.8" and grad.options == {"signed": "true"}
    assert parse_method("grad_cam", layer="conv1").layer == "conv1"          # --layer for layer methods
    assert parse_method("gradient", layer="conv1").layer is None             # ...and not for the others


@pytest.mark.parametrize("spec,error,words", [
    ("nope", ValueError, "unknown method 'nope'; methods: .*grad_cam"),
    ("grad_cam:signed", ValueError, "KEY=VALUE"),
    ("grad_cam:signed=perhaps", ValueError, "signed takes a bool"),
    ("gradient:layer=x", ValueError, "takes no layer"),
    ("gradient:bogus=1", TypeError, "unknown option bogus"),
])
def test_bad_specs_fail_before_any_work(spec, error, words):
    with pytest.raises(error, match=words):
        parse_method(spec)


def test_set_options_belong_to_a_named_method_and_labels_are_distinct():
    specs = parse_methods(["grad_cam", "grad_cam:signed=true"], {"grad_cam": {"signed": "false"}})
    assert [s.options["signed"] for s in specs] == ["false", "true"]      # the spec's own wins
    with pytest.raises(ValueError, match="not among the methods"):
        parse_methods(["gradient"], {"occlusion": {"window": "8"}})
    with pytest.raises(ValueError, match="given twice"):
        parse_methods(["gradient", "gradient"])
