"""ONNX files the tests write themselves: small torch models exported by torch.onnx.export, and graphs built
node by node with onnx.helper for what the exporter does not write (asymmetric pads, MatMul + Add, ...).
onnxruntime runs them as the reference."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.nn import functional as F

FILE_BATCH = 5  # the batch the files fix; the tests run the converted modules on other batches


class PilotNetLike(nn.Module):
    """Conv + BatchNorm + LeakyReLU, Conv + ELU, flatten written as x.view(x.size(0), -1), Gemm heads."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 5, stride=2), nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.fc1, self.fc2 = nn.Linear(12 * 8 * 24, 16), nn.Linear(16, 1)

    def forward(self, x):
        x = F.leaky_relu(self.bn1(self.conv1(x)))
        x = F.elu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc2(F.leaky_relu(self.fc1(x)))


PILOTNET_SHAPE = (3, 33, 100)


class NHWCNet(nn.Module):
    """Takes B x H x W x C (a TensorFlow-style export) and permutes to channels first itself."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        self.fc = nn.Linear(6 * 7 * 9, 2)

    def forward(self, x):
        x = torch.relu(self.conv(x.permute(0, 3, 1, 2)))
        return torch.tanh(self.fc(torch.flatten(x, 1)))


NHWC_SHAPE = (16, 20, 3)


class Pools(nn.Module):
    """Max and average pooling with padding, ceil mode and count_include_pad both ways; sigmoid head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, dilation=1)
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=2)
        self.pool2 = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.pool3 = nn.AvgPool2d(2, stride=2, ceil_mode=True)
        self.pool4 = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=True)
        self.fc = nn.Linear(6 * 3 * 4, 3)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = self.pool4(self.pool3(self.pool2(torch.sigmoid(self.conv2(x)))))
        return torch.softmax(self.fc(torch.flatten(x, 1)), dim=1)


POOLS_SHAPE = (3, 23, 29)


class GapClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.relu6(self.conv2(x) * 0.5 + 0.25)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


GAP_SHAPE = (3, 20, 24)


def seeded(cls, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = cls()
    for m in model.modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def export(model: nn.Module, shape, path, *, opset: int, dynamo: bool = False, dynamic_batch: bool = False,
           fold: bool = True):
    """Write `model` for a batch of FILE_BATCH inputs of `shape` with torch.onnx.export; BatchNorm kept as a node."""
    x = torch.rand(FILE_BATCH, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, verbose=False)
            program.save(str(path))
        else:
            axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None
            torch.onnx.export(model, (x,), str(path), opset_version=opset, dynamo=False, input_names=["x"],
                              output_names=["y"], dynamic_axes=axes, do_constant_folding=fold,
                              training=torch.onnx.TrainingMode.PRESERVE)
    return path


def fix_batch(src, dst, batch: int = FILE_BATCH):
    """A copy of `src` whose input and outputs declare a fixed batch (as a PyTorch 1.8 export without
    dynamic axes did), keeping its Shape -> Gather flatten."""
    model = onnx.load(str(src))
    for v in list(model.graph.input) + list(model.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = batch
    onnx.save(model, str(dst))
    return dst


def op_types(path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def run_ort(path, x: np.ndarray) -> list[np.ndarray]:
    """The reference: onnxruntime on `x` (padded to the file's fixed batch when it has one)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    declared = session.get_inputs()[0].shape[0]
    n = x.shape[0]
    if isinstance(declared, int) and declared != n:
        x = np.concatenate([x, np.zeros((declared - n, *x.shape[1:]), x.dtype)]) if declared > n else x
    outs = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    return [o[:n] for o in outs]


# -- graphs written node by node ----------------------------------------------------------------------
def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def handmade(path, *, opset: int = 13):
    """Asymmetric Conv pads with groups and dilation, BatchNorm, Clip 0..6, MatMul + Add, Transpose, Concat,
    Mul/Sub/Div by constants and between tensors, Identity, Dropout, Softmax; input B x 3 x 12 x 14 with batch 5.
    Node names have dots (torch forbids them in module names)."""
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.normal(size=s).astype(np.float32) * 0.5  # noqa: E731
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="block.conv", pads=[1, 0, 2, 1], strides=[2, 1],
                         dilations=[1, 2], group=1),
        helper.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["n1"], name="block.bn",
                         epsilon=1e-3),
        helper.make_node("Clip", ["n1", "lo", "hi"], ["r1"], name="block.relu6"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="grouped", group=2, pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c2", "half"], ["m2"], name="scale"),
        helper.make_node("Sub", ["m2", "shift"], ["s2"], name="shift"),
        helper.make_node("Div", ["s2", "two"], ["d2"], name="halve"),
        helper.make_node("Mul", ["d2", "r1"], ["p2"], name="gate"),
        helper.make_node("Identity", ["p2"], ["i2"], name="same"),
        helper.make_node("Dropout", ["i2"], ["o2"], name="drop"),
        helper.make_node("Transpose", ["o2"], ["t2"], name="to_nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Shape", ["t2"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"], name="unsq"),
        helper.make_node("Concat", ["batch1", "minus1"], ["target"], name="cat_shape", axis=0),
        helper.make_node("Reshape", ["t2", "target"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "wm"], ["mm"], name="dense.matmul"),
        helper.make_node("Add", ["mm", "bm"], ["dense"], name="dense.add"),
        helper.make_node("Sigmoid", ["dense"], ["sg"], name="act"),
        helper.make_node("Concat", ["sg", "dense"], ["both"], name="join", axis=1),
        helper.make_node("Softmax", ["both"], ["probs"], name="probs", axis=-1),
        helper.make_node("Tanh", ["dense"], ["steer"], name="steer"),
    ]
    inits = [
        _init("w1", f32(4, 3, 3, 3)), _init("b1", f32(4)),
        _init("bn_s", rng.uniform(0.5, 1.5, 4).astype(np.float32)), _init("bn_b", f32(4)),
        _init("bn_m", f32(4)), _init("bn_v", rng.uniform(0.5, 1.5, 4).astype(np.float32)),
        _init("lo", np.array(0, np.float32)), _init("hi", np.array(6, np.float32)),
        _init("w2", f32(4, 2, 3, 3)), _init("half", np.array(0.5, np.float32)),
        _init("shift", f32(1, 4, 1, 1)), _init("two", np.array(2.0, np.float32)),
        _init("zero", np.array(0, np.int64)), _init("axes0", np.array([0], np.int64)),
        _init("minus1", np.array([-1], np.int64)),
    ]
    h, w = (12 + 3 - 3) // 2 + 1, (14 + 1 - 5) + 1  # conv 1: pads top 1 bottom 2, left 0 right 1, dilation 2 on w
    inits += [_init("wm", f32(4 * h * w, 3)), _init("bm", f32(3))]
    graph = helper.make_graph(
        nodes, "handmade", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [FILE_BATCH, 3, 12, 14])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [FILE_BATCH, 6]),
         helper.make_tensor_value_info("steer", TensorProto.FLOAT, [FILE_BATCH, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


HANDMADE_SHAPE = (3, 12, 14)
