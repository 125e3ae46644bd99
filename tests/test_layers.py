import pytest
from conftest import build
from torch import nn

import pilotlens
from pilotlens.layers import LayerNotFound, find_layer, last_conv, trace


def test_trace_lists_leaf_layers_in_execution_order_with_shapes():
    model, _ = build("pilotnet", batch=1)
    layers = trace(model, (3, 66, 200))
    convs = [l for l in layers if l.kind == "Conv2d"]
    assert [l.output_shape for l in convs] == [(24, 31, 98), (36, 14, 47), (48, 5, 22), (64, 3, 20), (64, 1, 18)]
    assert [l.index for l in layers] == list(range(len(layers)))
    assert layers[-1].output_shape == (1,) and layers[0].input_shape == (3, 66, 200)


def test_trace_follows_execution_not_registration_order():
    class Backwards(nn.Module):
        def __init__(self):
            super().__init__()
            self.last = nn.Linear(4, 1)
            self.first = nn.Conv2d(3, 1, 1)

        def forward(self, x):
            return self.last(self.first(x).flatten(1))
    names = [l.name for l in trace(Backwards(), (3, 2, 2))]
    assert names == ["first", "last"]


def test_find_layer_by_name_index_module_and_default():
    model, _ = build("nested", batch=1)
    assert find_layer(model, "1.0")[1] is model[1][0]
    assert find_layer(model, model[2].conv) == ("2.conv", model[2].conv)
    assert find_layer(model, None) == last_conv(model) == ("2.conv", model[2].conv)
    by_index = find_layer(model, 0, (3, 37, 45))
    assert by_index == ("0.conv", model[0].conv)
    assert find_layer(model, -1, (3, 37, 45))[0] == "4"


def test_missing_layer_names_the_layers_that_exist():
    model, _ = build("nested", batch=1)
    with pytest.raises(LayerNotFound, match=r"'conv7'.*0\.conv \(Conv2d\).*2\.act \(ReLU\)"):
        find_layer(model, "conv7")
    with pytest.raises(LayerNotFound, match="out of range"):
        find_layer(model, 99, (3, 37, 45))
    with pytest.raises(LayerNotFound, match="not part of the model"):
        find_layer(model, nn.Conv2d(1, 1, 1))


def test_format_layers_is_a_table_to_pick_from():
    model, _ = build("pilotnet", batch=1)
    table = pilotlens.format_layers(trace(model, (3, 66, 200)))
    assert "64x1x18" in table and table.splitlines()[0].split() == ["#", "name", "type", "output", "shape"]


def test_a_container_standing_for_a_file_layer_is_listed_by_its_name_after_its_parts():
    from torch import nn

    from pilotlens.layers import find_layer, format_layers, trace

    class FileLayer(nn.Module):          # like a Keras Conv2D with its activation
        listed_as_layer = True

        def __init__(self):
            super().__init__()
            self.conv, self.act = nn.Conv2d(3, 4, 3), nn.ReLU()

        def forward(self, x):
            return self.act(self.conv(x))

    model = nn.Sequential()
    model.add_module("conv2d_5", FileLayer())
    model.add_module("plain", nn.Sequential(nn.Conv2d(4, 2, 1)))   # an ordinary container: not listed
    layers = trace(model, (3, 8, 8))
    assert [l.name for l in layers] == ["conv2d_5.conv", "conv2d_5.act", "conv2d_5", "plain.0"]
    assert [l.leaf for l in layers] == [True, True, False, True]
    assert "conv2d_5  " in format_layers(layers)
    assert find_layer(model, "conv2d_5")[1] is model.conv2d_5
