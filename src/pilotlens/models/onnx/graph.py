"""An ONNX graph as a plain layer graph (lists, dicts, numbers) plus its weight arrays.

Nodes are read in the file's order (ONNX requires topological order; the checker has verified it).
Constant subgraphs are folded here, with numpy: Constant, initializers, and the shape arithmetic that
exporters write for `x.view(x.size(0), -1)` (Shape -> Gather -> Unsqueeze -> Concat -> Reshape). The batch
size is kept symbolic (BATCH) through that arithmetic, and a Reshape target whose first entry is the file's
fixed batch size becomes BATCH: the converted module takes any batch. Every other node becomes one layer
spec (ops.py builds it), named after the ONNX node; a MatMul followed by the Add of a bias is one nn.Linear.
An operator not listed in SUPPORTED is refused with its type and node name.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from torch import nn

from .files import onnx_package, tensor_array
from .ops import BATCH

GRAPH_FORMAT = "pilotlens-onnx-graph"
GRAPH_VERSION = 1


class _Batch:
    """The batch size inside folded shape arithmetic: no arithmetic with it is defined (TypeError)."""

    def __repr__(self):
        return "batch"


_B = _Batch()
_FLOAT_DTYPES = {1: np.float32, 10: np.float16, 11: np.float64}
_INT_DTYPES = {6: np.int32, 7: np.int64, 2: np.uint8, 3: np.int8, 9: np.bool_}


class _Converter:
    def __init__(self, model, path, layout: str | None):
        onnx = onnx_package()
        self.onnx, self.path, g = onnx, path, model.graph
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=1)
        self.consts: dict[str, np.ndarray] = {t.name: tensor_array(t, path, "initializer") for t in g.initializer}
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ValueError(f"{path}: the model has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                             "pilotlens explains models taking one image batch")
        self.input = inputs[0].name
        self.shapes = self._infer_shapes(model)
        self.consumers = Counter(i for n in g.node for i in n.input if i)
        self.consumers.update(o.name for o in g.output)
        self.nodes = list(g.node)
        self.runtime = {self.input}
        self.layers: list[dict] = []
        self.arrays: dict[tuple[str, str], np.ndarray] = {}
        self.node_modules: dict[str, str] = {}
        self.used: set[str] = set()
        self.fused: set[int] = set()
        dims = self.shapes.get(self.input)
        if dims is None or len(dims) != 4:
            raise ValueError(f"{path}: the model's input {self.input!r} has shape {dims}; pilotlens explains image "
                             "models taking B x C x H x W (or B x H x W x C)")
        self.batch = dims[0]
        self.layout = layout or self._guess_layout(dims)
        if self.layout not in ("nchw", "nhwc"):
            raise ValueError(f"input layout must be 'nchw' or 'nhwc', got {layout!r}")
        self.image = dims[1:] if self.layout == "nchw" else [dims[3], dims[1], dims[2]]  # C, H, W

    # -- what the file says about shapes ---------------------------------------------------------
    def _infer_shapes(self, model) -> dict[str, list]:
        """name -> dims (int, or None where unknown) for every value whose shape the file states or implies."""
        try:
            inferred = self.onnx.shape_inference.infer_shapes(model)
        except Exception:  # inference is a help for Shape nodes only; the declared shapes remain
            inferred = model
        g = inferred.graph
        shapes = {}
        for v in list(g.input) + list(g.value_info) + list(g.output):
            t = v.type.tensor_type
            if t.HasField("shape"):
                shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        return shapes

    def _guess_layout(self, dims) -> str:
        for node in self.nodes:
            if node.op_type == "Transpose" and self.input in node.input:
                if list(self._attrs(node).get("perm", [])) == [0, 3, 1, 2]:
                    return "nhwc"
        return "nhwc" if dims[3] in (1, 3) and dims[1] not in (1, 3) else "nchw"

    # -- helpers ---------------------------------------------------------------------------------
    def _attrs(self, node) -> dict:
        out = {}
        for a in node.attribute:
            if a.HasField("t"):
                out[a.name] = tensor_array(a.t, self.path, f"attribute {a.name!r} of node {node.name!r}")
            else:
                value = self.onnx.helper.get_attribute_value(a)
                out[a.name] = value.decode() if isinstance(value, bytes) else value
        return out

    def _fail(self, node, why: str):
        raise ValueError(f"{self.path}: node {node.name!r} ({node.op_type}): {why}")

    def _const(self, node, i: int, what: str, required: bool = True):
        names = [n for n in node.input]
        if i >= len(names) or not names[i]:
            if required:
                self._fail(node, f"has no {what}")
            return None
        if names[i] not in self.consts:
            self._fail(node, f"its {what} {names[i]!r} is computed in the graph; pilotlens needs it constant")
        return self.consts[names[i]]

    def _runtime(self, node, i: int = 0) -> str:
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.runtime:
            self._fail(node, f"its input {i} {name!r} is not a tensor computed from the image")
        return name

    def _module_name(self, node, index: int) -> str:
        base = (node.name or f"{node.op_type}_{index}").replace(".", "_")
        name, k = base, 1
        while name in self.used or name in _RESERVED or hasattr(nn.Module, name):  # add_module would refuse it
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def _emit(self, node, index, spec: dict, inputs: list[str], arrays: dict | None = None, output: str | None = None):
        for extra in node.output[1:]:
            if extra and self.consumers[extra]:
                self._fail(node, f"its output {extra!r} is used; pilotlens reads only the first output of {node.op_type}")
        name = self._module_name(node, index)
        output = output or node.output[0]
        self.layers.append({"name": name, "onnx_name": node.name, "op": node.op_type, "inputs": inputs,
                            "output": output, **spec})
        self.node_modules[node.name or name] = name
        for key, value in (arrays or {}).items():
            if value is not None:
                self.arrays[(name, key)] = np.array(value, dtype=np.float32, order="C")
        self.runtime.add(output)

    # -- the walk --------------------------------------------------------------------------------
    def run(self) -> tuple[dict, dict]:
        for index, node in enumerate(self.nodes):
            if index in self.fused:
                continue
            if node.domain not in ("", "ai.onnx"):
                self._unsupported(node, f"{node.domain}.{node.op_type}")
            attrs = self._attrs(node)
            ins = [i for i in node.input if i]
            if node.op_type == "Constant":
                self.consts[node.output[0]] = _constant(attrs, self, node)
            elif node.op_type == "Shape" and ins and ins[0] in self.runtime:
                self.consts[node.output[0]] = self._symbolic_shape(node, attrs)
            elif ins and all(i in self.consts for i in ins) and node.op_type in _FOLD:
                try:
                    value = _FOLD[node.op_type](self, node, attrs, [self.consts[i] for i in ins])
                except TypeError:
                    self._fail(node, "computes with the batch size; pilotlens keeps the batch free and cannot fold it")
                # numpy gives a bare element, not a 0-d array, for an object array's scalar
                self.consts[node.output[0]] = value if isinstance(value, np.ndarray) else \
                    np.asarray(value) if isinstance(value, np.generic) else np.array(value, dtype=object)
            elif node.op_type in _LAYERS:
                _LAYERS[node.op_type](self, node, index, attrs)
            else:
                self._unsupported(node, node.op_type)
        outputs = []
        for o in self.onnx_outputs:
            if o not in self.runtime:
                raise ValueError(f"{self.path}: the graph output {o!r} does not depend on the image")
            outputs.append(o)
        graph = {"format": GRAPH_FORMAT, "version": GRAPH_VERSION, "opset": self.opset,
                 "input": {"name": self.input, "shape": list(self.image), "layout": self.layout, "batch": self.batch},
                 "outputs": outputs, "output_shapes": [self.shapes.get(o) for o in outputs],
                 "layers": self.layers, "node_modules": self.node_modules}
        return graph, self.arrays

    def _unsupported(self, node, op: str):
        raise ValueError(f"{self.path}: unsupported ONNX operator {op} (node {node.name!r}); pilotlens converts "
                         f"{', '.join(SUPPORTED)}")

    def _symbolic_shape(self, node, attrs) -> np.ndarray:
        dims = self.shapes.get(node.input[0])
        if dims is None:
            self._fail(node, f"the shape of {node.input[0]!r} is not stated in the file")
        values = np.array([_B] + list(dims[1:]), dtype=object)
        return values[attrs.get("start", 0):attrs.get("end", len(dims))]

    def reshape_target(self, node, shape) -> list:
        """A Reshape target as plain data: ints, with BATCH for the batch size (symbolic, or the file's fixed one)."""
        out = []
        for i, s in enumerate(np.asarray(shape, dtype=object).ravel()):
            if s is _B or (i == 0 and self.batch is not None and s == self.batch):
                out.append(BATCH)
            elif s is None:
                self._fail(node, "its target shape depends on a dimension the file does not state")
            else:
                out.append(int(s))
        return out


# OnnxModel's own attributes (nn.Module's are checked on the class)
_RESERVED = {"graph", "input_size", "in_channels", "output_names", "layout", "node_modules", "training"}


# -- folding constants (numpy; object arrays hold the symbolic batch) ------------------------------
def _constant(attrs, conv, node) -> np.ndarray:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            value = attrs[key]
            return value if isinstance(value, np.ndarray) else np.array(value, dtype=np.float32 if "float" in key else np.int64)
    conv._fail(node, f"a Constant with {', '.join(attrs) or 'no value'} is not supported")


def _axes(conv, node, attrs, values, i=1):
    if "axes" in attrs:
        return list(attrs["axes"])
    return [int(a) for a in values[i].ravel()] if len(values) > i else None


def _unsqueeze(conv, node, attrs, values):
    x = values[0]
    for a in sorted(a % (x.ndim + len(_axes(conv, node, attrs, values))) for a in _axes(conv, node, attrs, values)):
        x = np.expand_dims(x, a)
    return x


def _squeeze(conv, node, attrs, values):
    axes = _axes(conv, node, attrs, values)
    return np.squeeze(values[0], axis=None if axes is None else tuple(axes))


def _gather(conv, node, attrs, values):
    return np.take(values[0], values[1].astype(np.int64), axis=attrs.get("axis", 0))


def _slice(conv, node, attrs, values):
    x = values[0]
    if conv.opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes, steps = attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = values[1].tolist(), values[2].tolist()
        axes = values[3].tolist() if len(values) > 3 else list(range(len(starts)))
        steps = values[4].tolist() if len(values) > 4 else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[a] = slice(s, e, st)
    return x[tuple(index)]


def _arith(op):
    def fold(conv, node, attrs, values):
        a, b = values
        if op == "Div" and a.dtype.kind in "iu" and b.dtype.kind in "iu":
            return np.trunc(a / b).astype(a.dtype)
        out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)
        return out if out.dtype == object else out.astype(np.result_type(a, b))
    return fold


def _cast(conv, node, attrs, values):
    to = attrs.get("to")
    dtype = _FLOAT_DTYPES.get(to) or _INT_DTYPES.get(to)
    if dtype is None:
        conv._fail(node, f"cast to ONNX type {to} is not supported")
    return values[0] if values[0].dtype == object else values[0].astype(dtype)


def _reshape_const(conv, node, attrs, values):
    x, shape = values[0], [int(s) for s in values[1]]
    shape = [x.shape[i] if s == 0 and not attrs.get("allowzero") else s for i, s in enumerate(shape)]
    return x.reshape(shape)


_FOLD = {
    "Identity": lambda c, n, a, v: v[0],
    "Cast": _cast,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Concat": lambda c, n, a, v: np.concatenate([np.atleast_1d(x) for x in v], axis=a.get("axis", 0)),
    "Gather": _gather,
    "Slice": _slice,
    "Add": _arith("Add"), "Sub": _arith("Sub"), "Mul": _arith("Mul"), "Div": _arith("Div"),
    "Reshape": _reshape_const,
    "Transpose": lambda c, n, a, v: np.transpose(v[0], a.get("perm")),
    "Shape": lambda c, n, a, v: np.array(v[0].shape, dtype=np.int64)[a.get("start", 0):a.get("end", v[0].ndim)],
}


# -- layers ------------------------------------------------------------------------------------------
def _pads2(conv, node, attrs, kernel) -> list[int]:
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER") and node.op_type != "Conv":
        conv._fail(node, f"auto_pad {auto} is supported for Conv only")
    pads = list(attrs.get("pads", [0] * 2 * len(kernel)))
    return [0, 0, 0, 0] if auto == "VALID" else pads


def _conv(conv, node, index, attrs):
    x = conv._runtime(node)
    w, b = conv._const(node, 1, "weight"), conv._const(node, 2, "bias", required=False)
    if w.ndim != 4:
        conv._fail(node, f"a {w.ndim - 2}-D convolution; pilotlens converts 2-D convolutions")
    group = int(attrs.get("group", 1))
    kernel = list(attrs.get("kernel_shape", w.shape[2:]))
    spec = {"type": "conv", "in_channels": int(w.shape[1]) * group, "out_channels": int(w.shape[0]),
            "kernel": [int(k) for k in kernel], "stride": list(attrs.get("strides", [1, 1])),
            "pads": _pads2(conv, node, attrs, kernel), "dilation": list(attrs.get("dilations", [1, 1])),
            "groups": group, "bias": b is not None, "auto_pad": attrs.get("auto_pad", "NOTSET")}
    conv._emit(node, index, spec, [x], {"weight": w, "bias": b})


def _gemm(conv, node, index, attrs):
    x = conv._runtime(node)
    b, c = conv._const(node, 1, "B (weight)"), conv._const(node, 2, "C (bias)", required=False)
    weight = (b if attrs.get("transB", 0) else b.T) * attrs.get("alpha", 1.0)
    bias, out = None, weight.shape[0]
    if c is not None:
        if c.size not in (1, out) or (c.size == out and c.shape[-1:] != (out,)):
            conv._fail(node, f"its C of shape {list(c.shape)} is not a bias of {out} values")
        bias = np.broadcast_to(c.reshape(-1), (out,)) * attrs.get("beta", 1.0)
    spec = {"type": "linear", "in_features": int(weight.shape[1]), "out_features": int(weight.shape[0]),
            "bias": bias is not None, "trans_a": bool(attrs.get("transA", 0))}
    conv._emit(node, index, spec, [x], {"weight": weight, "bias": bias})


def _bias_add(conv, node, out_features):
    """The index and bias of the Add that alone consumes this MatMul's output with a constant bias, or None."""
    out = node.output[0]
    if conv.consumers[out] != 1:
        return None
    for j, other in enumerate(conv.nodes):
        if other.op_type == "Add" and out in other.input and len(other.input) == 2:
            c = conv.consts.get(other.input[1] if other.input[0] == out else other.input[0])
            if c is not None and c.size == out_features and c.shape[-1:] == (out_features,):
                return j, c.reshape(-1)
    return None


def _matmul(conv, node, index, attrs):
    a = conv._runtime(node)
    if node.input[1] in conv.runtime:
        return conv._emit(node, index, {"type": "matmul"}, [a, node.input[1]])
    w = conv._const(node, 1, "B (weight)")
    if w.ndim != 2:
        conv._fail(node, f"its constant B has shape {list(w.shape)}; pilotlens converts a 2-D weight")
    fused = _bias_add(conv, node, w.shape[1])
    spec = {"type": "linear", "in_features": int(w.shape[0]), "out_features": int(w.shape[1]),
            "bias": fused is not None}
    output = None
    if fused is not None:
        j, bias = fused
        conv.fused.add(j)
        output = conv.nodes[j].output[0]
    conv._emit(node, index, spec, [a], {"weight": w.T, "bias": None if fused is None else bias}, output=output)
    if fused is not None:
        conv.node_modules[conv.nodes[fused[0]].name] = conv.layers[-1]["name"]


def _simple(kind, **defaults):
    def emit(conv, node, index, attrs):
        spec = {"type": kind, **{k: attrs.get(k, v) for k, v in defaults.items()}}
        conv._emit(node, index, spec, [conv._runtime(node)])
    return emit


def _softmax(log):
    def emit(conv, node, index, attrs):
        legacy = conv.opset < 13
        spec = {"type": "softmax", "axis": int(attrs.get("axis", 1 if legacy else -1)), "flatten": legacy, "log": log}
        conv._emit(node, index, spec, [conv._runtime(node)])
    return emit


def _clip(conv, node, index, attrs):
    if conv.opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
    else:
        lo, hi = conv._const(node, 1, "min", False), conv._const(node, 2, "max", False)
        low, high = (None if lo is None else float(lo)), (None if hi is None else float(hi))
    low = None if low is None or low <= -3.4e38 else float(low)
    high = None if high is None or high >= 3.4e38 else float(high)
    conv._emit(node, index, {"type": "clip", "min": low, "max": high}, [conv._runtime(node)])


def _batchnorm(conv, node, index, attrs):
    x = conv._runtime(node)
    scale, bias, mean, var = (conv._const(node, i, w) for i, w in enumerate(("scale", "B", "mean", "var"), 1))
    rank = len(conv.shapes.get(x) or [0] * 4)
    spec = {"type": "batchnorm", "channels": int(scale.size), "eps": float(attrs.get("epsilon", 1e-5)), "rank": rank}
    conv._emit(node, index, spec, [x], {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var})


def _pool(kind):
    def emit(conv, node, index, attrs):
        kernel = list(attrs["kernel_shape"])
        if len(kernel) != 2:
            conv._fail(node, f"a {len(kernel)}-D pooling; pilotlens converts 2-D pooling")
        spec = {"type": kind, "kernel": kernel, "stride": list(attrs.get("strides", [1, 1])),
                "pads": _pads2(conv, node, attrs, kernel), "ceil_mode": bool(attrs.get("ceil_mode", 0))}
        if kind == "maxpool":
            spec["dilation"] = list(attrs.get("dilations", [1, 1]))
        else:
            spec["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        conv._emit(node, index, spec, [conv._runtime(node)])
    return emit


def _reshape(conv, node, index, attrs):
    x = conv._runtime(node)
    shape = conv._const(node, 1, "shape")
    spec = {"type": "reshape", "shape": conv.reshape_target(node, shape), "allowzero": bool(attrs.get("allowzero", 0))}
    conv._emit(node, index, spec, [x])


def _dropout(conv, node, index, attrs):
    ratio = attrs.get("ratio")
    if ratio is None:
        r = conv._const(node, 1, "ratio", required=False)
        ratio = 0.5 if r is None else float(r)
    conv._emit(node, index, {"type": "dropout", "p": float(ratio)}, [conv._runtime(node)])


def _arith_layer(conv, node, index, attrs):
    a, b = node.input[0], node.input[1]
    if a in conv.runtime and b in conv.runtime:
        return conv._emit(node, index, {"type": "arith", "op": node.op_type}, [a, b])
    side, x, const = ("right", a, conv.consts.get(b)) if a in conv.runtime else ("left", b, conv.consts.get(a))
    if x not in conv.runtime or const is None:
        conv._fail(node, "its inputs are neither computed from the image nor constant")
    if const.dtype == object:
        conv._fail(node, "computes with the batch size; pilotlens keeps the batch free and cannot fold it")
    spec = {"type": "arith", "op": node.op_type, "const": side, "const_shape": [int(d) for d in const.shape]}
    conv._emit(node, index, spec, [x], {"const": const})


def _concat(conv, node, index, attrs):
    ins = [conv._runtime(node, i) for i in range(len(node.input))]
    conv._emit(node, index, {"type": "concat", "axis": int(attrs.get("axis", 0))}, ins)


def _squeeze_layer(kind):
    def emit(conv, node, index, attrs):
        x = conv._runtime(node)
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(a) for a in conv._const(node, 1, "axes").ravel()]
        if axes is None and kind == "unsqueeze":
            conv._fail(node, "has no axes")
        conv._emit(node, index, {"type": kind, "axes": None if axes is None else list(axes)}, [x])
    return emit


def _transpose(conv, node, index, attrs):
    x = conv._runtime(node)
    perm = attrs.get("perm")
    if perm is None:
        rank = len(conv.shapes.get(x) or [])
        if not rank:
            conv._fail(node, "has no perm and the rank of its input is not stated")
        perm = list(range(rank))[::-1]
    conv._emit(node, index, {"type": "transpose", "perm": list(perm)}, [x])


_LAYERS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul,
    "Relu": _simple("relu"), "LeakyRelu": _simple("leaky_relu", alpha=0.01), "Elu": _simple("elu", alpha=1.0),
    "Sigmoid": _simple("sigmoid"), "Tanh": _simple("tanh"), "Softmax": _softmax(False), "LogSoftmax": _softmax(True),
    "Clip": _clip, "BatchNormalization": _batchnorm,
    "MaxPool": _pool("maxpool"), "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _simple("gap"), "GlobalMaxPool": _simple("gmp"),
    "Flatten": _simple("flatten", axis=1), "Reshape": _reshape,
    "Add": _arith_layer, "Sub": _arith_layer, "Mul": _arith_layer, "Div": _arith_layer,
    "Identity": _simple("identity"), "Dropout": _dropout, "Transpose": _transpose, "Concat": _concat,
    "Squeeze": _squeeze_layer("squeeze"), "Unsqueeze": _squeeze_layer("unsqueeze"),
}
#: the operators pilotlens converts (Shape, Gather, Cast, Slice only as constant shape arithmetic)
SUPPORTED = sorted(set(_LAYERS) | {"Constant", "Shape", "Gather", "Cast", "Slice"})


def to_layer_graph(model, path, layout: str | None = None) -> tuple[dict, dict]:
    """(plain layer graph, {(layer name, tensor name): float32 array}) for a parsed ModelProto."""
    conv = _Converter(model, path, layout)
    conv.onnx_outputs = [o.name for o in model.graph.output]
    return conv.run()
