"""Method options: one place converts a person's text to each option's type."""
import pytest
import torch

from pilotlens.methods.options import check_options, convert_option

DEFAULTS = {"signed": False, "steps": 50, "noise": 0.15, "rule": "gausslegendre", "window": 15, "stride": None}
TYPES = {"window": (int, tuple, list), "stride": (int, tuple, type(None))}


@pytest.mark.parametrize("given,want", [
    ({"signed": "false"}, {"signed": False}), ({"signed": "True"}, {"signed": True}), ({"signed": "0"}, {"signed": False}),
    ({"steps": "8"}, {"steps": 8}), ({"noise": "0.3"}, {"noise": 0.3}), ({"noise": 1}, {"noise": 1.0}),
    ({"window": "(8, 16)"}, {"window": (8, 16)}), ({"window": "12"}, {"window": 12}),
    ({"stride": "none"}, {"stride": None}), ({"stride": "4"}, {"stride": 4}), ({"rule": "trapezoid"}, {"rule": "trapezoid"}),
])
def test_text_becomes_the_option_type(given, want):
    out = check_options("m", DEFAULTS, TYPES, given)
    for k, v in want.items():
        assert out[k] == v and type(out[k]) is type(v)


@pytest.mark.parametrize("key,value,words", [("signed", "maybe", "signed takes a bool"), ("steps", "8.5", "steps takes an int"),
                                             ("steps", True, "steps takes an int"), ("noise", "loud", "noise takes a number"),
                                             ("window", "big", "window takes an int or a tuple")])
def test_a_wrong_value_names_the_option_and_its_type(key, value, words):
    with pytest.raises(ValueError, match=words):
        check_options("m", DEFAULTS, TYPES, {key: value})


def test_unknown_options_list_the_valid_ones():
    with pytest.raises(TypeError, match="unknown option colour; valid options: signed=False"):
        check_options("m", DEFAULTS, TYPES, {"colour": "red"})


def test_explainers_convert_through_the_same_place():
    import pilotlens
    from conftest import build
    model, x = build("pilotnet", batch=1)
    assert pilotlens.explainer(model, "grad_cam", signed="false").options["signed"] is False
    assert pilotlens.explainer(model, "grad_cam", signed="true").is_signed()
    with pytest.raises(ValueError, match="signed takes a bool"):
        pilotlens.explainer(model, "grad_cam", signed="sometimes")
    assert convert_option("m", "b", torch.zeros(1), (float, torch.Tensor)).shape == (1,)
