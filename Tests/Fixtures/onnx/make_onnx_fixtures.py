#!/usr/bin/env python3
"""Writes the small ONNX files the ONNX decoder tests read (Tests/MLTests/Models/ONNXDecoderTests).

Pinned: onnx==1.23.2 (pip install onnx==1.23.2). Deterministic: the same bytes every run.

- logreg.onnx: X float[N,4] -> MatMul(W float[4,3], raw_data) -> Add(B float[3], float_data)
  -> Softmax(axis=1) -> Y float[N,3]; opset ai.onnx 13, producer "mlrepo-fixture" 1.0,
  metadata_props {"features": "a,b,c,d"}; an int64 initializer `shape` = [-1, 3] (int64_data)
  and a string initializer `labels` = ["x", "y", "z"] (string_data) that no node uses.
"""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))

W = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 8, name="W")  # raw_data
B = helper.make_tensor("B", TensorProto.FLOAT, [3], [0.5, -0.25, 1.0])                       # float_data
shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 3])                          # int64_data
labels = helper.make_tensor("labels", TensorProto.STRING, [3], [b"x", b"y", b"z"])            # string_data
nodes = [
    helper.make_node("MatMul", ["X", "W"], ["XW"], name="matmul"),
    helper.make_node("Add", ["XW", "B"], ["Z"], name="add"),
    helper.make_node("Softmax", ["Z"], ["Y"], name="softmax", axis=1),
]
graph = helper.make_graph(
    nodes, "logreg",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])],
    initializer=[W, B, shape, labels])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="mlrepo-fixture", producer_version="1.0")
model.ir_version = 8
helper.set_model_props(model, {"features": "a,b,c,d"})
onnx.checker.check_model(model)
with open(os.path.join(here, "logreg.onnx"), "wb") as f:
    f.write(model.SerializeToString())
print("wrote logreg.onnx", len(model.SerializeToString()), "bytes")
