"""ONNX files -> torch modules, checked against onnxruntime on files torch.onnx.export and onnx.helper wrote."""
from __future__ import annotations

import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from conftest import assert_rel_close, captum_forward
from torch import nn

import pilotlens
from pilotlens.layout import decide
from pilotlens.models.onnx import load_onnx_model
from pilotlens.models.onnx.ops import PaddedConv

from . import onnx_cases as C

BATCH = 3  # not the files' fixed batch of 5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{case: (path, input shape as the file takes it, whether the file takes B x H x W x C)}."""
    d = tmp_path_factory.mktemp("onnx")
    dynamic = C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, d / "pilotnet9_dynamic.onnx", opset=9,
                       dynamic_batch=True, fold=False)
    return {
        "pilotnet_opset9": (C.fix_batch(dynamic, d / "pilotnet9.onnx"), C.PILOTNET_SHAPE, False),
        "pilotnet_opset9_const_batch": (C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, d / "pilotnet9c.onnx",
                                                 opset=9), C.PILOTNET_SHAPE, False),
        "pilotnet_opset20": (C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, d / "pilotnet20.onnx", opset=20),
                             C.PILOTNET_SHAPE, False),
        "nhwc": (C.export(C.seeded(C.NHWCNet), C.NHWC_SHAPE, d / "nhwc.onnx", opset=13), C.NHWC_SHAPE, True),
        "pools": (C.export(C.seeded(C.Pools), C.POOLS_SHAPE, d / "pools.onnx", opset=11), C.POOLS_SHAPE, False),
        "gap": (C.export(C.seeded(C.GapClassifier), C.GAP_SHAPE, d / "gap.onnx", opset=17), C.GAP_SHAPE, False),
        "handmade": (C.handmade(d / "handmade.onnx"), C.HANDMADE_SHAPE, False),
    }


def _outputs(model, x):
    out = model(x)
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("case", ["pilotnet_opset9", "pilotnet_opset9_const_batch", "pilotnet_opset20", "nhwc",
                                  "pools", "gap", "handmade"])
def test_converted_module_equals_onnxruntime_on_another_batch(files, case):
    path, shape, nhwc = files[case]
    model = load_onnx_model(path)
    torch.manual_seed(1)
    x = torch.rand(BATCH, *shape)
    with torch.no_grad():
        ours = _outputs(model, x.permute(0, 3, 1, 2) if nhwc else x)
    refs = C.run_ort(path, x.numpy())
    assert len(ours) == len(refs)
    for o, r in zip(ours, refs):
        assert o.shape[0] == BATCH
        assert_rel_close(o, torch.from_numpy(r))


@pytest.mark.slow
def test_torch_export_default_exporter_file_equals_onnxruntime(tmp_path):
    """torch's default (dynamo) exporter writes the flatten as a Reshape to the constant [5, -1]."""
    path = C.export(C.seeded(C.PilotNetLike), C.PILOTNET_SHAPE, tmp_path / "pilotnet18.onnx", opset=18, dynamo=True)
    model = load_onnx_model(path)
    x = torch.rand(BATCH, *C.PILOTNET_SHAPE)
    with torch.no_grad():
        ours = model(x)
    assert_rel_close(ours, torch.from_numpy(C.run_ort(path, x.numpy())[0]))


def test_the_opset9_file_is_the_fixed_batch_shape_gather_flatten(files):
    """What the issue's PyTorch 1.8 file holds: Shape/Gather/Unsqueeze/Concat/Reshape, LeakyReLU, Gemm, batch 5."""
    path = files["pilotnet_opset9"][0]
    ops = C.op_types(path)
    assert {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "LeakyRelu", "Gemm", "BatchNormalization"} <= set(ops)
    import onnx
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == C.FILE_BATCH
    model = load_onnx_model(path)
    kinds = {type(m) for m in model.modules()}
    assert {nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU, nn.ELU, nn.Linear} <= kinds
    assert not any(n.startswith("/Shape") or n.startswith("/Gather") for n, _ in model.named_children())


def test_layers_carry_the_onnx_node_names(files):
    model = load_onnx_model(files["pilotnet_opset9"][0])
    assert isinstance(dict(model.named_modules())["/conv2/Conv"], nn.Conv2d)
    hand = load_onnx_model(files["handmade"][0])
    assert hand.node_modules["block.conv"] == "block_conv"  # torch forbids dots in module names
    assert isinstance(hand.block_conv, PaddedConv) and isinstance(hand.block_conv.conv, nn.Conv2d)
    assert hand.node_modules["dense.add"] == hand.node_modules["dense.matmul"] == "dense_matmul"
    assert isinstance(hand.dense_matmul, nn.Linear)


def test_a_layer_name_traces_like_any_pilotlens_layer(files):
    path, shape, _ = files["pools"]
    model = load_onnx_model(path)
    names = [l.name for l in pilotlens.trace(model, shape)]
    assert "/conv1/Conv" in names and "/pool1/MaxPool" in names


@pytest.mark.parametrize("case,layer,column", [("pilotnet_opset9", "/conv2/Conv", 0), ("gap", "/conv2/Conv", None),
                                               ("handmade", "grouped", 1)])
def test_grad_cam_at_an_onnx_node_equals_captum(files, case, layer, column):
    path, shape, _ = files[case]
    model = load_onnx_model(path)
    torch.manual_seed(2)
    x = torch.rand(BATCH, *shape)
    if case == "handmade":  # two outputs; pilotlens explains the columns concatenated
        model_out = torch.cat(model(x), dim=1)
    else:
        model_out = model(x)
    cols = model_out.argmax(1).tolist() if column is None else [column] * BATCH
    decide(model, x)
    gc = LayerGradCam(captum_forward(model), dict(model.named_modules())[layer])
    ref = LayerAttribution.interpolate(gc.attribute(x.clone(), target=cols, relu_attributions=True), tuple(x.shape[2:]),
                                       interpolate_mode="bilinear")[:, 0]
    sal = pilotlens.explain(model, x, "grad_cam", layer=layer, target=column)
    assert_rel_close(sal.raw, ref)
    assert sal.layer == layer


def test_nhwc_module_takes_nchw_and_says_so(files):
    path, (h, w, c), _ = files["nhwc"]
    model = load_onnx_model(path)
    assert model.layout == "nhwc" and model.in_channels == c and model.input_size == (w, h)
    assert "B x H x W x C in the file" in repr(model)


def test_rebuilt_from_its_plain_graph_and_state_dict(files):
    """What a saved pilot does: the plain graph and the state_dict alone rebuild the same module (no onnx needed)."""
    from pilotlens.models.onnx import onnx_module
    path, shape, _ = files["handmade"]
    model = load_onnx_model(path)
    again = onnx_module(model.graph)
    again.load_state_dict(model.state_dict())
    x = torch.rand(2, *shape)
    for a, b in zip(model(x), again.eval()(x)):
        assert torch.equal(a, b)
