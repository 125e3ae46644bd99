"""The user's own PyTorch class from FILE.py:Class, with weights loaded weights_only."""
from __future__ import annotations

import textwrap

import pytest
import torch

from pilotlens.models.pilot import Pilot
from pilotlens.models.user_code import is_user_class, split_spec, user_model, user_pilot

NET = textwrap.dedent("""
    import torch
    from torch import nn
    from helper import WIDTH  # a sibling module: the user's folder is importable while the file loads


    class MyNet(nn.Module):
        input_size = (32, 24)
        output_names = ("angle", "throttle")

        def __init__(self, width=WIDTH):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3)
            self.act = nn.ReLU()
            self.head = nn.Linear(width, 2)

        def forward(self, x):
            return self.head(self.act(self.conv(x)).mean(dim=(2, 3)))


    class NotAModel:
        pass
""")


@pytest.fixture
def net(tmp_path):
    (tmp_path / "helper.py").write_text("WIDTH = 4\n")
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return path


def _trained(net, tmp_path, **kwargs):
    torch.manual_seed(0)
    model = user_model(f"{net}:MyNet", **kwargs)
    for p in model.parameters():
        torch.nn.init.normal_(p)
    weights = tmp_path / "state.pth"
    torch.save(model.state_dict(), weights)
    return model, weights


def test_spec_parsing():
    assert split_spec("mynet.py:MyNet") is not None and split_spec("C:/x/mynet.py:MyNet")[1] == "MyNet"
    assert not is_user_class("pilotnet") and not is_user_class("mypilot.h5") and not is_user_class("a.py:")
    with pytest.raises(ValueError, match="FILE.py:ClassName"):
        user_model("mynet.py")


def test_loads_the_class_and_its_weights(net, tmp_path):
    model, weights = _trained(net, tmp_path)
    again = user_model(f"{net}:MyNet", weights=weights)
    x = torch.rand(2, 3, 24, 32)
    assert not again.training
    assert torch.equal(again(x), model(x))


def test_accepts_a_pilot_file(net, tmp_path):
    model, _ = _trained(net, tmp_path)
    pilot = Pilot(model, input_size=(32, 24), outputs=("angle", "throttle"))
    path = tmp_path / "mine.pt"
    pilot.save(path)
    again = user_model(f"{net}:MyNet", weights=path)
    x = torch.rand(1, 3, 24, 32)
    assert torch.equal(again(x), model(x))


def test_user_pilot_takes_what_the_class_says(net, tmp_path):
    _, weights = _trained(net, tmp_path)
    pilot = user_pilot(f"{net}:MyNet", weights, scale=1 / 255)
    assert pilot.input_size == (32, 24) and pilot.outputs == ("angle", "throttle") and pilot.name == "MyNet"


def test_clear_errors(net, tmp_path):
    with pytest.raises(FileNotFoundError, match="no Python file"):
        user_model(f"{tmp_path / 'other.py'}:MyNet")
    with pytest.raises(ValueError, match="has no 'YourNet'.*MyNet"):
        user_model(f"{net}:YourNet")
    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        user_model(f"{net}:NotAModel")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        user_model(f"{net}:MyNet", weights=tmp_path / "none.pth")


def test_mismatched_weights_list_the_keys(net, tmp_path):
    model, _ = _trained(net, tmp_path)
    state = model.state_dict()
    state["extra.weight"] = state.pop("head.weight")
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match="missing keys: head.weight; unexpected keys: extra.weight"):
        user_model(f"{net}:MyNet", weights=bad)
    _, wide = _trained(net, tmp_path, width=6)
    with pytest.raises(ValueError, match=r"conv.weight has shape \(6, 3, 3, 3\) in the file"):
        user_model(f"{net}:MyNet", weights=wide)


class Payload:
    """Anything that is not plain data: weights_only loading refuses to build it."""


def test_weights_holding_python_objects_are_refused(net, tmp_path):
    model, _ = _trained(net, tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": model.state_dict(), "payload": Payload()}, path)
    with pytest.raises(ValueError, match="refused: it holds pickled Python objects; pilotlens only loads tensors") as e:
        user_model(f"{net}:MyNet", weights=path)
    assert "weights_only" not in str(e.value)   # torch's advice to load unsafely is never relayed


def test_import_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "typo.py"
    bad.write_text("import torch\nclass Net(torch.nn.Module)\n    pass\n")
    with pytest.raises(ValueError, match=r"^typo.py line 2: SyntaxError: .*\(importing .*typo.py\)$"):
        user_model(f"{bad}:Net")
    boom = tmp_path / "boom.py"
    boom.write_text("import torch\n\n\ndef f():\n    raise RuntimeError('boom')\n\n\nf()\n")
    with pytest.raises(ValueError, match=r"boom.py line 5 raised RuntimeError at import: boom$"):
        user_model(f"{boom}:Net")
    boom.write_text("import sys\nsys.exit(3)\n")   # a script's exit is no way to end pilotlens
    with pytest.raises(ValueError, match=r"raised SystemExit at import: 3"):
        user_model(f"{tmp_path / 'boom.py'}:Net")
