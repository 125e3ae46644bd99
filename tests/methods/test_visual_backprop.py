import numpy as np
import pytest
import torch
from conftest import assert_rel_close, build
from torch import nn

import pilotlens


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def deconv_by_loops(m: np.ndarray, layer: nn.Module, size) -> np.ndarray:
    """Spread each coarse cell over the input pixels its kernel window read, one cell at a time."""
    (kh, kw), (sh, sw) = _pair(layer.kernel_size), _pair(layer.stride)
    (ph, pw), (dh, dw) = _pair(layer.padding), _pair(getattr(layer, "dilation", 1))
    out = np.zeros(size)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            for a in range(kh):
                for b in range(kw):
                    y, x = i * sh - ph + a * dh, j * sw - pw + b * dw
                    if 0 <= y < size[0] and 0 <= x < size[1]:
                        out[y, x] += m[i, j]
    return out


def visual_backprop_by_loops(layers: list[nn.Module], image: torch.Tensor) -> np.ndarray:
    """The published algorithm on a plain list of layers, written out step by step for one image."""
    h, means, steps = image[None], [], []
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                steps.append((layer, tuple(h.shape[-2:])))
            h = layer(h)
            if isinstance(layer, nn.ReLU):            # each conv stage ends in its ReLU here
                means.append(h[0].mean(dim=0).double().numpy())
    m, stage = means[-1], len(means) - 1
    for k in range(len(steps) - 1, -1, -1):
        layer, size = steps[k]
        m = deconv_by_loops(m, layer, size)
        if k > 0 and isinstance(steps[k - 1][0], nn.Conv2d):
            stage -= 1
            m = m * means[stage]
    return m


def flat_layers(name, model):
    if name == "pilotnet":
        return list(model)[:10]
    if name == "donkey":
        return list(model.features)[:10]
    b0, s1, b2 = model[0], model[1], model[2]
    return [b0.conv, b0.act, b0.pool, *s1, b2.conv, b2.act]


@pytest.mark.parametrize("name", ["pilotnet", "donkey", "nested"])
def test_visual_backprop_matches_the_loop_by_loop_algorithm(name):
    model, x = build(name, batch=2)
    sal = pilotlens.explain(model, x, "visual_backprop")
    for i in range(2):
        ref = torch.from_numpy(visual_backprop_by_loops(flat_layers(name, model), x[i]))
        assert_rel_close(sal.raw[i], ref)


def test_visual_backprop_on_a_tiny_network_worked_out_by_hand():
    conv1 = nn.Conv2d(1, 1, 2, stride=2, bias=False)
    conv2 = nn.Conv2d(1, 1, 2, stride=1, bias=False)
    for c in (conv1, conv2):
        nn.init.ones_(c.weight)
    model = nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU(), nn.Flatten(), nn.Linear(1, 1))
    x = torch.tensor([[1., 2, 0, 0], [3, 4, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]])[None, None]
    # stage 1: 2x2 block sums [[10, 0], [0, 4]]; stage 2: their sum, 14.
    # 14 spread over the 2x2 stage-1 grid, times stage 1: [[140, 0], [0, 56]]; each cell fills its 2x2 block.
    expected_raw = torch.tensor([[140., 140, 0, 0], [140, 140, 0, 0], [0, 0, 56, 56], [0, 0, 56, 56]])
    sal = pilotlens.explain(model, x, "visual_backprop")
    assert torch.equal(sal.raw[0], expected_raw)
    assert torch.allclose(sal.maps[0], expected_raw / 140)


def test_functional_activation_is_read_after_the_activation():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.pool = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.MaxPool2d(2)

        def forward(self, x):
            return self.c2(self.pool(torch.relu(self.c1(x)))).mean(dim=(1, 2, 3))
    torch.manual_seed(0)
    model, x = Functional(), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        a1 = torch.relu(model.c1(x))
        a2 = model.c2(model.pool(a1))
    m = deconv_by_loops(a2[0].mean(0).numpy(), model.c2, (7, 7))
    m = deconv_by_loops(m, model.pool, (14, 14)) * a1[0].mean(0).numpy()
    m = deconv_by_loops(m, model.c1, (16, 16))
    assert_rel_close(pilotlens.explain(model, x, "visual_backprop").raw[0], torch.from_numpy(m))


def test_model_without_conv_layers_names_its_layers():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    with pytest.raises(ValueError, match="(?s)needs Conv2d.*Flatten.*Linear"):
        pilotlens.explain(model, torch.rand(1, 3, 2, 2), "visual_backprop")


@pytest.mark.parametrize("layer, size", [
    (nn.Conv2d(1, 1, 5, stride=2), (66, 200)),                       # PilotNet's first conv: output_padding 1
    (nn.Conv2d(1, 1, (3, 4), stride=(1, 3), padding=(1, 2)), (11, 17)),
    (nn.Conv2d(1, 1, 3, stride=2, padding=1, dilation=2), (15, 16)),
    (nn.Conv2d(1, 1, 2, stride=4), (13, 14)),                         # rows no window reached: padded with 0
    (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (10, 13)),  # ceil_mode: the transposed conv is cut
    (nn.AvgPool2d(2), (9, 8)),
    (nn.Conv2d(1, 1, (5, 1), stride=(3, 1), padding=(4, 0)), (7, 5)),  # padding wider than the stride
])
def test_scale_up_is_the_all_ones_transposed_convolution_for_every_geometry(layer, size, monkeypatch):
    """scale_up runs the batch's one-channel maps as the channels of one grouped transposed convolution
    (here for every map size); the definition, spread cell by cell, is the reference, and the strided-add
    path (small maps) and the compiled CPU pass (with and without a stage below to multiply) must agree."""
    from pilotlens.methods import visual_backprop
    from pilotlens.methods._compiled_spread import spread
    from pilotlens.methods.visual_backprop import Step, scale_up, scale_up_by_adds
    monkeypatch.setattr(visual_backprop, "TCONV_PIXELS", 0)
    with torch.no_grad():
        h, w = layer(torch.zeros(1, 1, *size)).shape[-2:]
    two = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    step = Step("l", two(layer.kernel_size), two(layer.stride), two(layer.padding),
                two(getattr(layer, "dilation", 1)), size, isinstance(layer, nn.Conv2d))
    m = torch.rand(3, 1, h, w)
    below = torch.rand(3, *size)
    nothing = np.empty((0, 0, 0), np.float32)
    for dtype in (np.float32, np.float64):
        for multiply in (False, True):
            out = np.full((3, *size), np.nan, dtype)
            spread(m[:, 0].numpy().astype(dtype), below.numpy().astype(dtype) if multiply else nothing.astype(dtype),
                   out, *step.geometry())
            for i in range(3):
                ref = deconv_by_loops(m[i, 0].double().numpy(), layer, size) * (below[i].double().numpy() if multiply else 1)
                assert_rel_close(torch.from_numpy(out[i]).double(), torch.from_numpy(ref))
    for up in (scale_up, scale_up_by_adds):
        got = up(m, step)
        assert got.shape == (3, 1, *size)
        for i in range(3):
            assert_rel_close(got[i, 0], torch.from_numpy(deconv_by_loops(m[i, 0].double().numpy(), layer, size)))


@pytest.mark.parametrize("crop", [(0, 0, 0, 0), (2, 1, 3, 0), (0, 4, 0, 5)])
def test_a_crop_is_undone_by_zeros_on_both_paths(crop):
    """A crop layer's step pads the map back with zeros: the compiled pass (kernel 1, padding -top/-left)
    and torch's F.pad give the same map."""
    from pilotlens.methods._compiled_spread import spread
    from pilotlens.methods.visual_backprop import Step, scale_up
    top, bottom, left, right = crop
    m = torch.rand(2, 1, 5, 6)
    size = (5 + top + bottom, 6 + left + right)
    step = Step("crop", (1, 1), (1, 1), (0, 0), (1, 1), size, False, crop)
    out = np.empty((2, *size), np.float32)
    spread(m[:, 0].numpy(), np.empty((0, 0, 0), np.float32), out, *step.geometry())
    assert torch.equal(torch.from_numpy(out), scale_up(m, step)[:, 0])


def test_compiled_and_torch_visual_backprop_agree(monkeypatch):
    """The CPU path (compiled spread) and the torch path (scale_up) give the same maps on a real model."""
    from pilotlens.methods import visual_backprop
    model, x = build("pilotnet", batch=3)
    compiled = pilotlens.explain(model, x, "visual_backprop")
    monkeypatch.setattr(visual_backprop, "_compiled_serves", lambda t: False)
    plain = pilotlens.explain(model, x, "visual_backprop")
    assert_rel_close(compiled.raw, plain.raw)
    assert torch.allclose(compiled.maps, plain.maps, atol=1e-6)
