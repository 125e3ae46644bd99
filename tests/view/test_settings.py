"""The page's method options follow the rules of every other door (methods/options.py)."""
import pytest

from pilotlens.methods import parse_method
from pilotlens.methods.base import get_method, typed_options
from pilotlens.view.settings import parse_settings


def _options(method, **given):
    return dict(parse_settings({"methods": [method], "options": {method: given}}, set()).options_for(method))


def test_page_options_are_typed_as_the_command_line_types_them():
    assert _options("grad_cam", signed="false") == {"signed": False}
    assert _options("grad_cam", signed="on") == {"signed": True}
    assert _options("occlusion", window="[8,16]", stride="4") == {"window": (8, 16), "stride": 4}
    assert _options("activation", threshold=1) == {"threshold": 1.0}
    assert _options("activation", threshold="") == {}          # left empty: the default
    spec = parse_method("occlusion:window=(8,16),stride=4")
    assert _options("occlusion", **spec.options) == {k: typed_options(get_method("occlusion"), spec.options)[k]
                                                      for k in spec.options}


@pytest.mark.parametrize("method,name,value", [("grad_cam", "signed", "perhaps"), ("occlusion", "window", "wide")])
def test_a_mistyped_option_gets_the_message_the_command_line_gives(method, name, value):
    with pytest.raises(ValueError) as on_the_page:
        _options(method, **{name: value})
    with pytest.raises(ValueError) as in_a_spec:
        parse_method(f"{method}:{name}={value}")
    assert str(on_the_page.value) == str(in_a_spec.value)


def test_an_unknown_option_is_a_value_error_with_the_spec_message():
    with pytest.raises(ValueError) as on_the_page:
        _options("occlusion", windows="3")
    with pytest.raises(TypeError) as in_a_spec:
        parse_method("occlusion:windows=3")
    assert str(on_the_page.value) == str(in_a_spec.value)


def test_an_unhashable_value_names_the_field():
    with pytest.raises(ValueError, match="occlusion.window"):
        _options("occlusion", window="([8], [16])")
