"""Read an ONNX file with the `onnx` parser, refusing what it cannot safely hold, before anything is allocated.

Nothing in the file is executed: the protobuf is parsed, tensors are read as arrays, attributes as data.
Refused in one line naming the file: a file over `MAX_FILE_BYTES`, a truncated or corrupt file, a model
whose tensors live in external files, and a tensor whose declared shape does not match the data the file
holds (a huge declared shape with no data behind it is refused before any array is made).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: larger files are refused (protobuf itself stops at 2 GiB; steering CNNs are a few MB)
MAX_FILE_BYTES = 1 << 30
#: most values one tensor may declare (a quarter of a billion floats: 1 GiB)
MAX_TENSOR_VALUES = 1 << 28

# ONNX TensorProto data types pilotlens reads: code -> (numpy dtype, the typed field used without raw_data)
_DTYPES = {
    1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
    6: (np.int32, "int32_data"), 7: (np.int64, "int64_data"), 9: (np.bool_, "int32_data"),
    10: (np.float16, "int32_data"), 11: (np.float64, "double_data"),
}


def onnx_package():
    """The `onnx` parser, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as e:
        raise ImportError("reading ONNX files needs the onnx package: pip install pilotlens[onnx]") from e
    return onnx


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_tensor(tensor, path, what: str) -> list[int]:
    """The declared dims of a TensorProto, once the data the file holds is known to fit them (no array made)."""
    onnx = onnx_package()
    name = f"{what} {tensor.name!r}" if tensor.name else what
    if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
        raise ValueError(f"{path}: {name} keeps its data in an external file; pilotlens reads self-contained "
                         "ONNX files only (onnx.save_model(model, path, save_as_external_data=False))")
    if tensor.data_type not in _DTYPES:
        raise ValueError(f"{path}: {name} has ONNX data type {tensor.data_type}, which pilotlens does not read")
    dims = [int(d) for d in tensor.dims]
    if any(d < 0 for d in dims):
        raise ValueError(f"{path}: {name} declares a negative dimension {dims}")
    count = 1
    for d in dims:
        count *= d
        if count > MAX_TENSOR_VALUES:
            raise ValueError(f"{path}: {name} declares shape {dims}, more than {MAX_TENSOR_VALUES} values; refused")
    dtype, field = _DTYPES[tensor.data_type]
    held = (len(tensor.raw_data) // np.dtype(dtype).itemsize if tensor.HasField("raw_data")
            else len(getattr(tensor, field)))
    if held != count:
        raise ValueError(f"{path}: {name} declares shape {dims} ({count} values) but the file holds {held}: "
                         "truncated or corrupt")
    return dims


def tensor_array(tensor, path, what: str) -> np.ndarray:
    """A TensorProto as a numpy array, after `check_tensor`."""
    dims = check_tensor(tensor, path, what)
    dtype = _DTYPES[tensor.data_type][0]
    return np.array(onnx_package().numpy_helper.to_array(tensor), dtype=dtype, copy=True).reshape(dims)


def read_onnx(path, max_bytes: int = MAX_FILE_BYTES):
    """The parsed ModelProto of an ONNX file, or a one-line ValueError naming the file."""
    onnx = onnx_package()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ONNX model file {path}")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path}: {size} bytes, more than the {max_bytes} an ONNX file may have here; refused")
    if size == 0:
        raise ValueError(f"{path}: an empty file, not an ONNX model")
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends: the bytes are not a ModelProto
        raise ValueError(f"{path}: not a readable ONNX model (truncated or corrupt): {_first_line(e)}") from None
    if not model.HasField("graph") or not len(model.graph.node):
        raise ValueError(f"{path}: not an ONNX model: it holds no graph nodes (truncated or corrupt?)")
    for tensor in model.graph.initializer:  # before the checker or any conversion makes arrays of them
        check_tensor(tensor, path, "initializer")
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                check_tensor(attr.t, path, f"tensor attribute {attr.name!r} of node {node.name!r}")
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ValueError(f"{path}: not a valid ONNX model: {_first_line(e)}") from None
    return model
