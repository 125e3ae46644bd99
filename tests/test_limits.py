"""limits: allocations a user's number drives are estimated and refused above a bound; JSON depth."""
import json

import pytest

from pilotlens import limits
from pilotlens.limits import TooLarge, check_allocation, check_json_depth, human, json_depth, memory_bound


def test_bound_defaults_to_8_gib_or_physical_memory_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv(limits.ENV, raising=False)
    physical = limits._physical()
    assert memory_bound() == (min(8 * 1024 ** 3, physical) if physical else 8 * 1024 ** 3)
    for text, expected in (("64G", 64 * 1024 ** 3), ("512m", 512 * 1024 ** 2), ("1000", 1000),
                           ("1.5GiB", 1.5 * 1024 ** 3)):
        monkeypatch.setenv(limits.ENV, text)
        assert memory_bound() == int(expected), text
    monkeypatch.setenv(limits.ENV, "lots")
    with pytest.raises(ValueError, match="PILOTLENS_MAX_MEMORY='lots'"):
        memory_bound()


def test_refusal_names_option_value_estimate_and_bound(monkeypatch):
    monkeypatch.setenv(limits.ENV, "1G")
    check_allocation("--scale", 4, 1024 ** 3)          # at the bound: allowed
    with pytest.raises(TooLarge) as err:
        check_allocation("--scale", 1000, 3 * 1024 ** 4, what="for one output frame")
    text = str(err.value)
    assert "\n" not in text
    assert "--scale=1000" in text and "3.0 TiB" in text and "for one output frame" in text and "1.0 GiB" in text
    assert isinstance(err.value, ValueError)           # the command line prints it as one line


def test_human_sizes():
    assert human(512) == "512 B"
    assert human(1536) == "1.5 KiB"
    assert human(335 * 1024 ** 3) == "335 GiB"


def test_json_depth_counts_brackets_outside_strings_only():
    value = {"a": [1, {"b": "[[[{{{"}], "c": "\\\"[["}
    assert json_depth(json.dumps(value)) == 3
    deep = "[" * 150 + "]" * 150
    assert json_depth(deep) == 150
    check_json_depth(json.dumps(value), "x.json")      # shallow: fine
    with pytest.raises(ValueError, match=r"x.json: JSON nested 150 levels deep, deeper than the 100"):
        check_json_depth(deep, "x.json")
    # many brackets side by side are not depth
    check_json_depth(json.dumps([[1]] * 500), "wide.json")
