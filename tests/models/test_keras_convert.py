"""Keras files -> torch modules, checked against Keras 3 itself (torch backend) on models it built and saved."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from conftest import assert_rel_close, captum_forward

import pilotlens
from pilotlens import methods
from pilotlens.layers import find_layer
from pilotlens.models.keras import KerasCategoricalPilot, load_keras_model
from pilotlens.models.keras.layers import same_pads

from . import keras_cases as K

keras = K.keras


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Every case built once, saved as .h5 and .keras: {name: (keras model, {suffix: path})}."""
    folder = tmp_path_factory.mktemp("keras")
    return {name: _built(make, folder, name) for name, make in K.CASES.items()}


def _built(make, folder, name):
    model = make()
    return model, K.save(model, folder, name)


def _x(name, km, batch=3, seed=0):
    return K.inputs(km, batch=batch, seed=seed, high=255.0 if name == "pilotnet" else 1.0)


def _assert_loads_as_keras(km, path, seed: int) -> None:
    """km, randomised with `seed` and saved to `path`, loads into a module with Keras's outputs."""
    K._randomise(km, seed)
    km.save(path)
    x = K.inputs(km)
    assert_rel_close(load_keras_model(path)(K.nchw(x)), K.keras_outputs(km, x)[0].detach())


def _flat(outs):
    return torch.cat([o.reshape(o.shape[0], -1) for o in K.as_list(outs)], dim=1)


@pytest.mark.parametrize("suffix", ["h5", "keras"])
@pytest.mark.parametrize("name", sorted(K.CASES))
def test_outputs_equal_keras(saved, name, suffix):
    km, paths = saved[name]
    model = load_keras_model(paths[suffix])
    x = _x(name, km)
    ref = K.keras_outputs(km, x)
    ours = K.as_list(model(K.nchw(x)))
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert (r.std(dim=0) > 0).any(), "the reference output is the same for every input: proves little"
        assert_rel_close(o, r.detach())


@pytest.mark.parametrize("name", sorted(K.CASES))
def test_input_gradients_equal_keras(saved, name):
    """d(sum of every output column, each weighted) / d input: Keras's autograd vs the converted module's."""
    km, paths = saved[name]
    model = load_keras_model(paths["keras"])
    x = _x(name, km, seed=1)
    xk = x.clone().requires_grad_(True)
    ref_out = torch.cat([o.reshape(o.shape[0], -1) for o in K.as_list(km(xk, training=False))], dim=1)
    w = torch.linspace(-1, 1, ref_out.shape[1])
    (ref_grad,) = torch.autograd.grad((ref_out * w).sum(), xk)
    xt = K.nchw(x).requires_grad_(True)
    (grad,) = torch.autograd.grad((_flat(model(xt)) * w).sum(), xt)
    assert_rel_close(grad.permute(0, 2, 3, 1), ref_grad)


@pytest.mark.parametrize("name", sorted(K.CASES))
def test_h5_and_keras_give_the_same_module(saved, name):
    km, paths = saved[name]
    a, b = load_keras_model(paths["h5"]), load_keras_model(paths["keras"])
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    x = K.nchw(_x(name, km))
    assert torch.equal(_flat(a(x)), _flat(b(x)))


@pytest.mark.parametrize("name", sorted(K.CASES))
def test_a_layer_named_as_in_keras_reads_the_keras_layer_output(saved, name):
    """find_layer(model, keras name) hooks the Keras layer's output (its activation included)."""
    km, paths = saved[name]
    model = load_keras_model(paths["keras"])
    layer = K.CONV[name]
    _, module = find_layer(model, layer)
    x = _x(name, km)
    got = []
    handle = module.register_forward_hook(lambda _m, _i, out: got.append(out))
    model(K.nchw(x))
    handle.remove()
    ref = torch.as_tensor(keras.Model(km.inputs, km.get_layer(layer).output)(x)).detach()
    assert_rel_close(got[0].permute(0, 2, 3, 1), ref)


def test_every_method_runs_on_converted_models(saved):
    """Every registered method gives finite maps at input size; cam applies to the GAP model only and
    refuses the others with its own error."""
    for name, (km, paths) in saved.items():
        model = load_keras_model(paths["keras"])
        x = K.nchw(_x(name, km, batch=2))
        for method in methods():
            options = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 4},
                       "occlusion": {"window": 6}}.get(method, {})  # few passes: these models are tiny
            if method == "cam" and name != "gap":
                with pytest.raises(ValueError, match="global average pooling"):
                    pilotlens.explain(model, x, method, target=0)
                continue
            sal = pilotlens.explain(model, x, method, target=0, **options)
            assert sal.maps.shape == (2, *x.shape[2:]), (name, method)
            assert torch.isfinite(sal.raw).all(), (name, method)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("name", ["donkey_linear", "udacity", "gap"])
def test_grad_cam_at_a_keras_layer_equals_captum(saved, name, signed):
    km, paths = saved[name]
    model = load_keras_model(paths["keras"])
    x = K.nchw(_x(name, km))
    layer = K.CONV[name]
    column = 1 if name != "gap" else int(_flat(model(x))[0].argmax())
    gc = LayerGradCam(captum_forward(model), dict(model.named_modules())[layer])
    layer_map = gc.attribute(x.clone(), target=column, relu_attributions=not signed)
    ref = LayerAttribution.interpolate(layer_map, tuple(x.shape[2:]), interpolate_mode="bilinear")[:, 0]
    sal = pilotlens.explain(model, x, "grad_cam", layer=layer, target=column, signed=signed)
    assert sal.layer == layer
    assert_rel_close(sal.raw, ref)


def test_categorical_pilot_decodes_as_donkeycar(saved):
    """angle = argmax * 2/14 - 1 and throttle = argmax * 0.5/20 (donkeycar's linear_unbin), by hand."""
    km, paths = saved["donkey_categorical"]
    model = load_keras_model(paths["h5"])
    assert isinstance(model, KerasCategoricalPilot) and model.output_names == ("angle", "throttle")
    x = _x("donkey_categorical", km, batch=6)
    angle_p, throttle_p = (o.detach().numpy() for o in K.keras_outputs(km, x))
    decoded = model.decode(_flat(model(K.nchw(x)))).detach().numpy()
    np.testing.assert_allclose(decoded[:, 0], angle_p.argmax(1) * (2.0 / 14) - 1.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(decoded[:, 1], throttle_p.argmax(1) * (0.5 / 20), rtol=0, atol=1e-6)


def test_linear_pilot_names_its_heads(saved):
    model = load_keras_model(saved["donkey_linear"][1]["keras"])
    assert model.output_names == ("angle", "throttle")
    assert not hasattr(model, "decode")
    assert isinstance(model.conv2d_1.conv, torch.nn.Conv2d) and isinstance(model.conv2d_1.act, torch.nn.ReLU)


def test_visual_backprop_through_the_model_crop_pads_the_cropped_border_with_zeros(saved):
    """With a Cropping2D first, visual_backprop equals the map of the same model without the crop on
    the cropped input, placed back in the frame with zeros around it."""
    km, paths = saved["donkey_linear"]
    model = load_keras_model(paths["keras"])
    x = K.nchw(_x("donkey_linear", km, batch=2))
    top, bottom, left, right = model.cropping.crop
    model.cropping.crop = (0, 0, 0, 0)  # the same weights, no crop
    inner = x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]
    ref = pilotlens.explain(model, inner, "visual_backprop").raw
    model.cropping.crop = (top, bottom, left, right)
    raw = pilotlens.explain(model, x, "visual_backprop").raw
    assert (raw[:, :top] == 0).all() and (raw[:, raw.shape[1] - bottom:] == 0).all()
    assert_rel_close(raw[:, top:raw.shape[1] - bottom], ref)


@pytest.mark.parametrize("size,kernel,stride", [(7, 3, 2), (8, 4, 2), (6, 2, 1), (5, 1, 3)])
def test_avg_pool_same_averages_only_the_pixels_inside(tmp_path, size, kernel, stride):
    """TensorFlow's 'same' average pooling (what Keras models are trained with) averages the pixels a
    window covers; checked by hand. (Keras 3's torch backend replicates the border instead when the
    padding is asymmetric, so it is not the oracle here.)"""
    model = keras.Sequential([keras.Input((size, size, 2)), K.L.AveragePooling2D(kernel, strides=stride, padding="same")])
    path = tmp_path / "pool.keras"
    model.save(path)
    ours = load_keras_model(path)
    x = torch.rand(1, 2, size, size)
    out = ours(x)
    before, _ = same_pads(size, kernel, stride, 1)
    n = -(-size // stride)
    ref = torch.empty(1, 2, n, n)
    for i in range(n):
        for j in range(n):
            r0, c0 = i * stride - before, j * stride - before
            rows = slice(max(r0, 0), min(r0 + kernel, size))
            cols = slice(max(c0, 0), min(c0 + kernel, size))
            ref[0, :, i, j] = x[0, :, rows, cols].mean(dim=(1, 2))
    assert_rel_close(out, ref)


def test_pilot_forward_concatenates_the_heads(saved):
    from pilotlens.models.keras.pilot import keras_pilot
    km, paths = saved["udacity"]
    pilot = keras_pilot(paths["h5"])
    x = K.nchw(_x("udacity", km))
    ref = torch.cat([r.detach() for r in K.keras_outputs(km, _x("udacity", km))], dim=1)
    assert pilot.outputs == ("steer", "speed")
    assert_rel_close(pilot.forward(x).detach(), ref)


def test_conv_filters_of_a_keras_conv_layer_are_its_kernels(saved):
    """conv_filters(model, "conv2d_1") reads the Conv2D inside the block: Keras's kernel, same scale."""
    from pilotlens.layer_views import conv_filters
    km, paths = saved["donkey_linear"]
    model = load_keras_model(paths["h5"])
    kernel = torch.as_tensor(np.asarray(km.get_layer("conv2d_1").get_weights()[0]))  # kh kw cin cout
    ref = kernel.permute(3, 0, 1, 2)  # N x kh x kw x C_in
    ref = (ref - ref.min()) / (ref.max() - ref.min())
    np.testing.assert_allclose(conv_filters(model, "conv2d_1"), ref.numpy(), atol=1e-6)


def test_residual_merges_and_zero_padding_equal_keras(tmp_path):
    """A residual block (ZeroPadding2D, Add) and every element-wise merge, against Keras."""
    inp = keras.Input((12, 14, 3), name="img")
    a = K.L.Conv2D(4, 3, name="a")(K.L.ZeroPadding2D(((1, 1), (2, 0)), name="pad")(inp))
    b = K.L.Conv2D(4, 3, padding="same", name="b")(a)
    merged = [cls(name=cls.__name__.lower())([a, b]) for cls in
              (K.L.Add, K.L.Subtract, K.L.Multiply, K.L.Average, K.L.Maximum, K.L.Minimum)]
    out = K.L.Dense(2, name="out")(K.L.Flatten()(K.L.Concatenate()(merged)))
    _assert_loads_as_keras(keras.Model(inp, out), tmp_path / "res.keras", seed=5)


def test_less_common_layer_options_equal_keras(tmp_path):
    """Grouped conv, BatchNorm without centre/scale, Dense and Softmax on a feature map, global max
    pooling with keepdims, Reshape back to a map, ReLU6 and a negative-slope ReLU."""
    inp = keras.Input((10, 12, 4), name="img")
    x = K.L.Conv2D(6, 3, groups=2, activation="relu6", name="grouped")(inp)
    x = K.L.BatchNormalization(center=False, scale=False, name="bn_plain")(x)
    x = K.L.Dense(5, name="per_pixel")(x)
    x = K.L.ReLU(negative_slope=0.2, name="leaky")(x)
    s = K.L.Softmax(name="channel_softmax")(x)
    g = K.L.GlobalMaxPooling2D(keepdims=True, name="gmp")(s)
    r = K.L.Reshape((8, 10, 5), name="as_map")(K.L.Flatten()(x))
    out = K.L.Dense(3, name="out")(K.L.Concatenate()([K.L.Flatten()(g), K.L.Flatten()(r)]))
    _assert_loads_as_keras(keras.Model(inp, out), tmp_path / "odd.h5", seed=6)
