"""A user's own model class in a file, for --model FILE.py:Class --weights."""
from __future__ import annotations

import pytest
import torch

from .helpers import NET


@pytest.fixture
def user_net(tmp_path):
    """(the FILE.py:Class spec, a weights file of random, non-default weights)."""
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    namespace: dict = {}
    exec(NET, namespace)
    model = namespace["MyNet"]()
    torch.manual_seed(3)
    for p in model.parameters():
        torch.nn.init.normal_(p)
    weights = tmp_path / "w.pth"
    torch.save(model.state_dict(), weights)
    return f"{path}:MyNet", weights
