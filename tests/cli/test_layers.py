"""`pilotlens layers`, and what --model says about a file that is no model."""
import pytest

from pilotlens.cli import main

from .helpers import error as _error


def test_layers_lists_the_traced_layers(capsys):
    assert main(["layers", "--model", "donkey_linear"]) == 0
    out = capsys.readouterr().out
    assert "features.conv1" in out and "Conv2d" in out


@pytest.mark.parametrize("content,words", [(b"hello, I am text\n", "it is text"),
                                           (bytes(range(256)) * 10, "not a PyTorch file"),
                                           (b"", "it is empty")])
def test_a_file_that_is_no_model_says_what_it_is_not(tmp_path, capsys, content, words):
    model = tmp_path / "model.pt"
    model.write_bytes(content)
    code = main(["layers", "--model", str(model)])
    err = _error(capsys)
    assert code == 1 and words in err and str(model) in err
    assert "weights_only=False" not in err and "KeyError" not in err


def test_a_pickled_object_is_refused_without_suggesting_unsafe_loading(tmp_path, capsys):
    import torch
    path = tmp_path / "whole_model.pt"
    torch.save(torch.nn.Linear(2, 2), path)      # a whole module: loading it would run code
    code = main(["layers", "--model", str(path)])
    err = _error(capsys)
    assert code == 1 and "refused" in err and "weights_only" not in err


def test_a_pilot_naming_a_missing_package_is_a_clear_error(tmp_path, capsys):
    import torch
    from pilotlens.models import Pilot
    path = tmp_path / "tv.pt"
    Pilot.from_arch("donkey_linear").save(path)
    data = torch.load(path, weights_only=True)
    data["arch"], data["arch_kwargs"] = "torchvision:resnet18", {}
    torch.save(data, path)
    code = main(["layers", "--model", str(path)])
    err = _error(capsys)
    assert code == 1 and "torchvision" in err and "not installed" in err
