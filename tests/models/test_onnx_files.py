"""Bad ONNX files get one clear line naming the file, and what is wrong, before anything large is allocated."""
from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from pilotlens.models.onnx import is_onnx_file, load_onnx_model

from . import onnx_cases as C


def _graph(path, nodes, inits, out_shape=(1, 4, 6, 6)):
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_an_unsupported_op_is_named_with_its_node(tmp_path):
    w = onnx.numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    path = _graph(tmp_path / "erf.onnx", [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                                          helper.make_node("Erf", ["c"], ["y"], name="odd_activation")], [w])
    with pytest.raises(ValueError) as e:
        load_onnx_model(path)
    text = _one_line(e)
    assert "Erf" in text and "odd_activation" in text and str(path) in text


def test_a_truncated_file_is_refused_naming_it(tmp_path):
    whole = C.handmade(tmp_path / "whole.onnx").read_bytes()
    for cut in (len(whole) // 3, len(whole) // 2, len(whole) - 7):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(whole[:cut])
        with pytest.raises(ValueError) as e:
            load_onnx_model(path)
        assert str(path) in _one_line(e)


def test_an_initializer_declaring_a_huge_shape_is_refused_before_allocating(tmp_path):
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[200000, 3, 1000, 1000], raw_data=b"\0" * 16)
    path = _graph(tmp_path / "huge.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [huge])
    with pytest.raises(ValueError) as e:
        load_onnx_model(path)
    text = _one_line(e)
    assert "'w'" in text and "200000" in text and str(path) in text


def test_an_initializer_with_less_data_than_its_shape_is_refused(tmp_path):
    short = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 3, 3, 3], raw_data=b"\0" * 16)
    path = _graph(tmp_path / "short.onnx", [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [short])
    with pytest.raises(ValueError, match="108 values.*holds 4"):
        load_onnx_model(path)


def test_a_file_over_the_size_cap_is_refused(tmp_path):
    path = C.handmade(tmp_path / "h.onnx")
    with pytest.raises(ValueError, match="more than the 100 an ONNX file"):
        load_onnx_model(path, max_bytes=100)


def test_a_computed_weight_is_refused_naming_the_node(tmp_path):
    w = onnx.numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    path = _graph(tmp_path / "computed.onnx", [helper.make_node("Relu", ["w"], ["w2"], name="relu_w"),
                                               helper.make_node("Conv", ["x", "w2"], ["y"], name="conv")], [w])
    with pytest.raises(ValueError, match="node 'relu_w' \\(Relu\\)"):
        load_onnx_model(path)


def test_missing_onnx_package_says_how_to_install(tmp_path, monkeypatch):
    path = C.handmade(tmp_path / "h.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install pilotlens\[onnx\]"):
        load_onnx_model(path)


def test_is_onnx_file():
    assert is_onnx_file("net.onnx") and is_onnx_file("NET.ONNX") and not is_onnx_file("net.h5")
