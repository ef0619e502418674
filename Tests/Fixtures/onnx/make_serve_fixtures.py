#!/usr/bin/env python3
"""Writes the ONNX fixtures the predict/eval/serve tests read (Tests/CLITests/CLIONNXTests.swift),
with onnxruntime's outputs recorded beside them, so the tests need no Python.

Pinned: onnx==1.23.2 onnxruntime==1.32.0 scikit-learn==1.9.1 skl2onnx==1.20.0 numpy
(pip install onnx==1.23.2 onnxruntime==1.32.0 scikit-learn==1.9.1 skl2onnx==1.20.0 numpy).
Deterministic: fixed seeds and data.

- serve_expected.json: for logreg.onnx (make_onnx_fixtures.py) the rows `logreg_rows`
  (features a,b,c,d) and onnxruntime's Y (`logreg_y`); for ct_strings.onnx the rows `ct_rows`
  (color, size, x1, x2) with labels `ct_labels` and probabilities `ct_probabilities` (class
  order `ct_classes`); for linreg.onnx the rows `linreg_rows` and outputs `linreg_y`.
- ct_strings.onnx: scikit-learn Pipeline(ColumnTransformer(OneHotEncoder on the string columns
  color and size, StandardScaler on the float columns x1 and x2), LogisticRegression) over
  three string classes, converted by skl2onnx with one input per column (string [N,1] and
  float [N,1]); ZipMap probabilities.
- ct_train.csv: its training data (color,size,x1,x2,label).
- linreg.onnx: X float[N,3] -> MatMul -> Add -> Y float[N,1], no metadata (features by
  position); ai.onnx 13.
- relu.onnx: X float[N,3] -> Relu -> Y float[N,3], no metadata (three values a row, features
  by position); echo_strings.onnx: inputs color string[N,1] and x1 float[N,1], outputs
  label = Identity(color) string[N,1] and score = Relu(x1) float[N,1]. Both use only the
  operators of the executor core (Identity, Relu), so the serving tests run whatever else
  the operator tables hold.
- unsupported_op.onnx: X float[N,2] -> Relu (node 'act') -> node 'weird' of operator
  com.example.Frobnicate, which no runtime has, so the load refusal names node and operator.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
out = {}


def run(path, feeds):
    s = ort.InferenceSession(os.path.join(here, path), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


# logreg.onnx (written by make_onnx_fixtures.py)
rng = np.random.default_rng(7)
X = rng.normal(size=(5, 4)).round(3).astype(np.float32)
(Y,) = run("logreg.onnx", {"X": X})
out["logreg_rows"] = X.astype(float).tolist()
out["logreg_y"] = Y.astype(float).tolist()

# linreg.onnx: features by position
W = numpy_helper.from_array(np.array([[0.5], [-1.25], [2.0]], dtype=np.float32), name="W")
B = numpy_helper.from_array(np.array([0.75], dtype=np.float32), name="B")
g = helper.make_graph(
    [helper.make_node("MatMul", ["X", "W"], ["XW"], name="matmul"),
     helper.make_node("Add", ["XW", "B"], ["Y"], name="add")],
    "linreg",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 1])],
    initializer=[W, B])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="mlrepo-fixture", producer_version="1.0")
m.ir_version = 8
onnx.checker.check_model(m)
open(os.path.join(here, "linreg.onnx"), "wb").write(m.SerializeToString())
XL = np.array([[1, 2, 3], [0, 0, 0], [-1.5, 0.25, 4]], dtype=np.float32)
(YL,) = run("linreg.onnx", {"X": XL})
out["linreg_rows"] = XL.astype(float).tolist()
out["linreg_y"] = YL.astype(float).tolist()

# relu.onnx, echo_strings.onnx: core operators only
def save(g, name, metadata=None):
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="mlrepo-fixture", producer_version="1.0")
    m.ir_version = 8
    if metadata:
        helper.set_model_props(m, metadata)
    onnx.checker.check_model(m)
    open(os.path.join(here, name), "wb").write(m.SerializeToString())


save(helper.make_graph([helper.make_node("Relu", ["X"], ["Y"], name="relu")], "relu",
                       [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
                       [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])]), "relu.onnx")
save(helper.make_graph([helper.make_node("Identity", ["color"], ["label"], name="echo"),
                        helper.make_node("Relu", ["x1"], ["score"], name="relu")], "echo_strings",
                       [helper.make_tensor_value_info("color", TensorProto.STRING, ["N", 1]),
                        helper.make_tensor_value_info("x1", TensorProto.FLOAT, ["N", 1])],
                       [helper.make_tensor_value_info("label", TensorProto.STRING, ["N", 1]),
                        helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])]), "echo_strings.onnx")
XR = np.array([[1, -2, 3], [-0.5, 0.25, 0]], dtype=np.float32)
(YR,) = run("relu.onnx", {"X": XR})
out["relu_rows"] = XR.astype(float).tolist()
out["relu_y"] = YR.astype(float).tolist()
EL, ES = run("echo_strings.onnx", {"color": np.array([["red"], ["blue"]], dtype=object), "x1": np.array([[1.5], [-2]], dtype=np.float32)})
out["echo_labels"] = [str(x[0]) for x in EL]
out["echo_scores"] = ES.astype(float).tolist()

# unsupported_op.onnx
g = helper.make_graph(
    [helper.make_node("Relu", ["X"], ["R"], name="act"),
     helper.make_node("Frobnicate", ["R"], ["Y"], name="weird", domain="com.example")],
    "unsupported",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 2])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)],
                      producer_name="mlrepo-fixture", producer_version="1.0")
m.ir_version = 8
open(os.path.join(here, "unsupported_op.onnx"), "wb").write(m.SerializeToString())

# ct_strings.onnx: ColumnTransformer with string categories
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
import pandas as pd

rng = np.random.default_rng(11)
n = 120
color = rng.choice(["red", "green", "blue"], size=n)
size = rng.choice(["S", "M", "L"], size=n)
x1 = rng.normal(size=n).round(3)
x2 = (rng.normal(size=n) * 3 + 1).round(3)
score = (color == "red") * 1.5 + (size == "L") * 1.0 + x1 - 0.3 * x2 + rng.normal(size=n) * 0.3
label = np.where(score > 1.0, "high", np.where(score > -0.5, "mid", "low"))
df = pd.DataFrame({"color": color, "size": size, "x1": x1, "x2": x2, "label": label})
df.to_csv(os.path.join(here, "ct_train.csv"), index=False)
pipe = Pipeline([
    ("pre", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
                               ("num", StandardScaler(), ["x1", "x2"])])),
    ("clf", LogisticRegression(max_iter=500)),
])
pipe.fit(df[["color", "size", "x1", "x2"]], df["label"])
onx = convert_sklearn(pipe, initial_types=[("color", StringTensorType([None, 1])), ("size", StringTensorType([None, 1])),
                                           ("x1", FloatTensorType([None, 1])), ("x2", FloatTensorType([None, 1]))],
                      target_opset={"": 17, "ai.onnx.ml": 3})
onx.graph.name = "ct_strings"  # skl2onnx names the graph with a random hex id
open(os.path.join(here, "ct_strings.onnx"), "wb").write(onx.SerializeToString())
rows = df.iloc[:6]
feeds = {"color": rows[["color"]].values.astype(object), "size": rows[["size"]].values.astype(object),
         "x1": rows[["x1"]].values.astype(np.float32), "x2": rows[["x2"]].values.astype(np.float32)}
labels, probs = run("ct_strings.onnx", feeds)
classes = sorted(probs[0].keys())
out["ct_rows"] = [{"color": r.color, "size": r.size, "x1": float(r.x1), "x2": float(r.x2)} for r in rows.itertuples()]
out["ct_labels"] = [str(x) for x in labels]
out["ct_classes"] = classes
out["ct_probabilities"] = [[float(p[c]) for c in classes] for p in probs]
out["ct_outputs"] = [o.name for o in onx.graph.output]

with open(os.path.join(here, "serve_expected.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote linreg.onnx, relu.onnx, echo_strings.onnx, unsupported_op.onnx, ct_strings.onnx, ct_train.csv, serve_expected.json")
