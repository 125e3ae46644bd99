"""The zoo's architectures have the published shapes, readable layer names and sane heads."""
import sys

import pytest
import torch
from torch import nn

from pilotlens.models import zoo


def conv_shapes(model: nn.Module, x: torch.Tensor, kinds=(nn.Conv2d,)) -> list[tuple[int, ...]]:
    """C x H x W of every layer of the given kinds, in forward order, caught with forward hooks."""
    shapes, handles = [], []
    for m in model.modules():
        if isinstance(m, kinds):
            handles.append(m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:]))))
    try:
        with torch.no_grad():
            y = model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return shapes, y


def test_pilotnet_matches_the_paper():
    model = zoo.PilotNet()
    shapes, y = conv_shapes(model, torch.rand(2, 3, 66, 200) * 255)
    assert shapes == [(24, 31, 98), (36, 14, 47), (48, 5, 22), (64, 3, 20), (64, 1, 18)]
    assert model.head.fc1.in_features == 1152
    assert [m.out_features for m in model.head if isinstance(m, nn.Linear)] == [100, 50, 10, 1]
    assert [(m.kernel_size, m.stride) for m in model.features if isinstance(m, nn.Conv2d)] == \
        [((5, 5), (2, 2))] * 3 + [((3, 3), (1, 1))] * 2
    assert y.shape == (2, 1)


def test_pilotnet_normalises_in_the_model():
    model = zoo.PilotNet().eval()
    x = torch.rand(1, 3, 66, 200) * 255
    assert torch.allclose(model.normalize(x), x / 127.5 - 1, atol=1e-6)
    plain = zoo.PilotNet(normalize=False)
    assert isinstance(plain.normalize, nn.Identity)


@pytest.mark.parametrize("activation, kind", [("relu", nn.ReLU), ("elu", nn.ELU)])
def test_pilotnet_activation_is_a_module_after_every_conv(activation, kind):
    model = zoo.PilotNet(activation=activation)
    layers = list(model.features)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Conv2d):
            assert isinstance(layers[i + 1], kind)
    names = dict(model.named_modules())
    assert {"features.conv1", "features.conv5", f"features.{activation}5", "head.fc1", "head.out"} <= set(names)


def test_pilotnet_rejects_unknown_activation():
    with pytest.raises(ValueError, match="relu"):
        zoo.PilotNet(activation="tanh")


def test_donkey_linear_matches_donkeycar():
    model = zoo.DonkeyLinear()
    shapes, y = conv_shapes(model, torch.rand(3, 3, 120, 160))
    assert shapes == [(24, 58, 78), (32, 27, 37), (64, 12, 17), (64, 10, 15), (64, 8, 13)]
    assert [(m.kernel_size, m.stride) for m in model.features if isinstance(m, nn.Conv2d)] == \
        [((5, 5), (2, 2))] * 3 + [((3, 3), (1, 1))] * 2
    assert model.head.fc1.in_features == 64 * 8 * 13
    assert [m.out_features for m in model.head if isinstance(m, nn.Linear)] == [100, 50]
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.2] * 7  # after each of 5 convs and 2 dense layers, as donkeycar
    assert y.shape == (3, 2)
    assert model.output_names == ("angle", "throttle")


def test_donkey_linear_columns_are_angle_then_throttle():
    model = zoo.DonkeyLinear().eval()
    x = torch.rand(2, 3, 120, 160)
    with torch.no_grad():
        y = model(x)
        z = model.head(model.features(x))
        assert torch.equal(y[:, :1], model.angle(z))
        assert torch.equal(y[:, 1:], model.throttle(z))


def test_donkey_categorical_matches_donkeycar():
    model = zoo.DonkeyCategorical()
    shapes, y = conv_shapes(model, torch.rand(2, 3, 120, 160))
    # conv4 has stride 2 in donkeycar's default_categorical
    assert shapes == [(24, 58, 78), (32, 27, 37), (64, 12, 17), (64, 5, 8), (64, 3, 6)]
    assert model.head.fc1.in_features == 1152
    assert y.shape == (2, 35)
    assert len(model.columns) == 35 and model.columns[0] == "angle_bin0" and model.columns[15] == "throttle_bin0"


def test_donkey_categorical_decodes_like_linear_unbin():
    model = zoo.DonkeyCategorical()

    def logits(angle_bin, throttle_bin):
        y = torch.zeros(35)
        y[angle_bin] = 5
        y[15 + throttle_bin] = 5
        return y

    y = torch.stack([logits(0, 0), logits(7, 10), logits(14, 19)])
    decoded = model.decode(y)
    # donkeycar: angle = b * 2/14 - 1; throttle = b * 0.5/20 (throttle_range 0.5)
    expected = torch.tensor([[-1.0, 0.0], [0.0, 0.25], [1.0, 0.475]])
    assert torch.allclose(decoded, expected, atol=1e-6)


def test_long_range_matches_the_authors_code():
    model = zoo.LongRangeCNN()
    x = torch.rand(2, 3, 64, 80)
    convs, y = conv_shapes(model, x)
    pools, _ = conv_shapes(model, x, kinds=(nn.MaxPool2d,))
    assert convs == [(10, 64, 80), (10, 32, 40), (8, 16, 20)]
    assert pools == [(10, 32, 40), (10, 16, 20), (8, 8, 10)]
    assert model.head.fc1.in_features == 640
    assert y.shape == (2, 155)
    assert bool(((y > 0) & (y < 1)).all())
    names = model.output_names
    assert len(names) == 155 and names[0] == "lx_0cm" and names[4] == "rx_0cm" and names[5] == "lx_1cm"
    assert names[-1] == "rx_30cm"


def test_long_range_standardises_each_image():
    model = zoo.LongRangeCNN().eval()
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x * 3.0 + 0.5), atol=1e-5)


def test_long_range_other_sizes():
    model = zoo.LongRangeCNN(n_sensors=3, n_distances=4, sigmoid=False)
    assert model.output_names[:4] == ("s0_0cm", "s1_0cm", "s2_0cm", "s0_1cm")
    assert not any(isinstance(m, nn.Sigmoid) for m in model.modules())
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 64, 80)).shape == (1, 12)


@pytest.mark.parametrize("name", sorted(zoo.ARCHITECTURES))
def test_build_every_arch_with_its_own_size(name):
    model = zoo.build(name)
    w, h = model.input_size
    assert (w, h) == zoo.preprocessing(name)["input_size"]
    with torch.no_grad():
        y = model.eval()(torch.rand(1, 3, h, w))
    assert y.shape[0] == 1


@pytest.mark.parametrize("name", sorted(zoo.ARCHITECTURES))
def test_models_adapt_to_input_size_and_channels(name):
    model = zoo.build(name, input_size=(128, 96), in_channels=1)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 1, 96, 128)).shape[0] == 2


def test_build_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        zoo.build("alexnet_for_cars")
    for name in zoo.ARCHITECTURES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="pilotnet"):
        zoo.preprocessing("nope")


def test_torchvision_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    with pytest.raises(ImportError, match="needs torchvision"):
        zoo.torchvision_classifier("resnet18")
    with pytest.raises(ImportError, match="needs torchvision"):
        zoo.build("torchvision:resnet18")


def test_torchvision_classifier_untrained_by_default():
    pytest.importorskip("torchvision", reason="torchvision is optional and not installed here")
    model = zoo.build("torchvision:resnet18")
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 224, 224)).shape == (1, 1000)
