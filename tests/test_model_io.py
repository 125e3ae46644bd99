"""model_io: where a model lives and what it takes."""
import pytest
import torch
from torch import nn

from pilotlens.model_io import device_of, dtype_of, input_channels


class BufferOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.ones(1, dtype=torch.float64, device="meta"))


def test_device_of_follows_the_first_parameter():
    assert device_of(nn.Conv2d(3, 4, 3, device="meta")) == torch.device("meta")
    assert device_of(nn.Sequential(nn.ReLU(), nn.Linear(2, 2))) == torch.device("cpu")


def test_device_of_a_model_with_only_buffers_or_nothing():
    assert device_of(BufferOnly()) == torch.device("meta")
    assert device_of(nn.ReLU()) == torch.device("cpu")


def test_dtype_of_skips_integer_parameters():
    model = nn.Sequential(nn.Linear(2, 2).double())
    model.register_parameter("steps", nn.Parameter(torch.zeros(1, dtype=torch.int64), requires_grad=False))
    assert dtype_of(model) == torch.float64
    assert dtype_of(nn.ReLU()) == torch.float32


@pytest.mark.parametrize("model, channels", [
    (nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3)), 3),
    (nn.Sequential(nn.Flatten(), nn.Linear(12, 2), nn.Conv2d(1, 1, 1)), None),
    (nn.Sequential(nn.ReLU()), None),
])
def test_input_channels_is_the_first_convs(model, channels):
    assert input_channels(model) == channels
