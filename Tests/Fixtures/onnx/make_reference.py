#!/usr/bin/env python3
"""Trains small models on generated data, exports them to ONNX and records onnxruntime's outputs:
the reference fixtures of Tests/MLTests/Models/ONNXReferenceTests.swift (issue 15).

Pinned (pip install): skl2onnx==1.20 scikit-learn==1.9.1 lightgbm==4.7 xgboost==3.2
onnxmltools==1.16 torch==2.15 onnxruntime==1.32 onnx==1.23.2 numpy

Run from anywhere: python3 Tests/Fixtures/onnx/make_reference.py [--only NAME ...] [--ops]
Writes Tests/Fixtures/onnx/reference/NAME.onnx, NAME.json and NAME.*.bin for each model.

Layout (one model):
  NAME.json  {"model": "NAME.onnx", "rows": 1000, "description": ...,
              "inputs":  [{"name", "type", "shape", "file"} | {"name", "type": "string", "shape", "values": [...]}],
              "outputs": [{"name", "kind": "tensor", "type", "shape", "file" | "values"}
                        | {"name", "kind": "mapSequence", "keyType": "int64"|"string", "keys": [...],
                           "type": "float32", "shape": [rows, keys], "file"}]}
  NAME.IO.bin little-endian float32 or int64 values, row-major, of the tensor named in the manifest.
Types are "float32", "int64" or "string" (strings are listed in the manifest).
ZipMap outputs (a sequence of maps) are stored as the keys and a rows x keys float32 matrix.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "reference")
ROWS = 1000


def _patch_bool_attributes():
    """skl2onnx 1.20 passes HistGradientBoosting's missing-value tracks as numpy bools, which
    onnx 1.23's make_attribute refuses ("Expected an int, got a boolean"): give it ints."""
    import onnx.helper
    original = onnx.helper.make_attribute

    def make_attribute(key, value, *args, **kw):
        if isinstance(value, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in value):
            value = [int(v) if isinstance(v, (bool, np.bool_)) else v for v in value]
        return original(key, value, *args, **kw)
    onnx.helper.make_attribute = make_attribute


_patch_bool_attributes()


def rng(seed):
    return np.random.default_rng(seed)


def classification(seed, n_features=10, classes=2, n=2000):
    r = rng(seed)
    X = r.normal(size=(n, n_features)).astype(np.float32)
    W = r.normal(size=(n_features, classes))
    logits = X.astype(np.float64) @ W + r.normal(scale=0.5, size=(n, classes))
    y = logits.argmax(axis=1)
    return X, y


def regression(seed, n_features=10, n=2000):
    r = rng(seed)
    X = r.normal(size=(n, n_features)).astype(np.float32)
    w = r.normal(size=n_features)
    y = X.astype(np.float64) @ w + np.sin(X[:, 0] * 2) + r.normal(scale=0.1, size=n)
    return X, y


def split(X, y):
    """Trains on the first half, tests on the last ROWS rows."""
    return X[:-ROWS], y[:-ROWS], X[-ROWS:]


def sk_onnx(model, X, name, options=None, target_opset=None, initial_types=None):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    if initial_types is None:
        initial_types = [("X", FloatTensorType([None, X.shape[1]]))]
    return to_onnx(model, initial_types=initial_types, options=options,
                   target_opset=target_opset or {"": 17, "ai.onnx.ml": 3})


def write_tensor(path, a):
    a = np.ascontiguousarray(a)
    if a.dtype == np.float32 or a.dtype == np.float64:
        a.astype("<f4").tofile(path)
        return "float32"
    if a.dtype.kind in "iub":
        a.astype("<i8").tofile(path)
        return "int64"
    raise ValueError(f"cannot write {a.dtype}")


def record(name, onx, feeds, description):
    import onnxruntime as ort
    os.makedirs(OUT, exist_ok=True)
    data = onx.SerializeToString()
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(data)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    results = sess.run(None, feeds)
    manifest = {"model": name + ".onnx", "rows": ROWS, "description": description, "inputs": [], "outputs": []}
    for i, (k, v) in enumerate(feeds.items()):
        entry = {"name": k, "shape": list(v.shape)}
        if v.dtype.kind in "OU":
            entry["type"] = "string"
            entry["values"] = [str(s) for s in v.reshape(-1)]
        else:
            fn = f"{name}.in{i}.bin"
            entry["type"] = write_tensor(os.path.join(OUT, fn), v)
            entry["file"] = fn
        manifest["inputs"].append(entry)
    for i, (info, v) in enumerate(zip(sess.get_outputs(), results)):
        fn = f"{name}.out{i}.bin"
        if isinstance(v, list):  # ZipMap: a sequence of maps
            keys = list(v[0].keys())
            mat = np.array([[row[k] for k in keys] for row in v], dtype=np.float32)
            key_type = "string" if isinstance(keys[0], str) else "int64"
            write_tensor(os.path.join(OUT, fn), mat)
            manifest["outputs"].append({"name": info.name, "kind": "mapSequence", "keyType": key_type,
                                        "keys": [k if key_type == "string" else int(k) for k in keys],
                                        "type": "float32", "shape": list(mat.shape), "file": fn})
            continue
        v = np.asarray(v)
        entry = {"name": info.name, "kind": "tensor", "shape": list(v.shape)}
        if v.dtype.kind in "OU":
            entry["type"] = "string"
            entry["values"] = [str(s) for s in v.reshape(-1)]
        else:
            entry["type"] = write_tensor(os.path.join(OUT, fn), v)
            entry["file"] = fn
        manifest["outputs"].append(entry)
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return onx


# --- the models -----------------------------------------------------------------------------

def m_logreg():
    from sklearn.linear_model import LogisticRegression
    X, y = classification(1, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = LogisticRegression(max_iter=500).fit(Xtr, ytr)
    return sk_onnx(m, X, "logreg"), {"X": Xte}, "LogisticRegression, 3 classes, ZipMap probabilities"


def m_linreg():
    from sklearn.linear_model import LinearRegression
    X, y = regression(2)
    Xtr, ytr, Xte = split(X, y)
    return sk_onnx(LinearRegression().fit(Xtr, ytr), X, "linreg"), {"X": Xte}, "LinearRegression"


def m_ridge():
    from sklearn.linear_model import Ridge
    X, y = regression(3)
    Xtr, ytr, Xte = split(X, y)
    return sk_onnx(Ridge(alpha=2.0).fit(Xtr, ytr), X, "ridge"), {"X": Xte}, "Ridge"


def m_lasso():
    from sklearn.linear_model import Lasso
    X, y = regression(4)
    Xtr, ytr, Xte = split(X, y)
    return sk_onnx(Lasso(alpha=0.05).fit(Xtr, ytr), X, "lasso"), {"X": Xte}, "Lasso"


def m_sgd():
    from sklearn.linear_model import SGDClassifier
    X, y = classification(5, classes=2)
    Xtr, ytr, Xte = split(X, y)
    m = SGDClassifier(loss="log_loss", random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "sgd", options={"zipmap": False}), {"X": Xte}, "SGDClassifier (log loss), binary, probabilities as a tensor"


def m_linearsvc():
    from sklearn.svm import LinearSVC
    X, y = classification(6, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = LinearSVC(random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "linearsvc"), {"X": Xte}, "LinearSVC, 3 classes"


def m_scalers():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
    X, y = regression(7)
    Xtr, ytr, Xte = split(X * 3 + 1, y)
    m = make_pipeline(StandardScaler(), MinMaxScaler(), RobustScaler()).fit(Xtr)
    return sk_onnx(m, X, "scalers"), {"X": Xte}, "StandardScaler + MinMaxScaler + RobustScaler pipeline"


def m_imputer():
    from sklearn.impute import SimpleImputer
    X, y = regression(8)
    r = rng(80)
    X = X.copy()
    X[r.random(X.shape) < 0.1] = np.nan
    Xtr, ytr, Xte = split(X, y)
    m = SimpleImputer(strategy="median").fit(Xtr)
    return sk_onnx(m, X, "imputer"), {"X": Xte}, "SimpleImputer (median) with 10% NaN inputs"


def m_columns():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    r = rng(9)
    n = 2000
    num = r.normal(size=(n, 4)).astype(np.float32)
    num[r.random(num.shape) < 0.05] = np.nan
    colors = np.array(["red", "green", "blue", "violet"])[r.integers(0, 4, n)]
    sizes = np.array(["S", "M", "L"])[r.integers(0, 3, n)]
    score = np.nan_to_num(num[:, 0]) + (colors == "red") * 1.5 - (sizes == "L") * 1.0 + r.normal(scale=0.5, size=n)
    y = np.where(score > 0.8, "high", np.where(score > -0.5, "mid", "low"))
    import pandas as pd
    from skl2onnx import convert_sklearn
    # Unseen category in the test rows: handle_unknown="ignore".
    colors[-1] = "ultraviolet"
    # Named columns, so that skl2onnx makes one input per column.
    frame = pd.DataFrame({"n0": num[:, 0], "n1": num[:, 1], "n2": num[:, 2], "n3": num[:, 3], "color": colors, "size": sizes})
    pipe3 = Pipeline([
        ("prep", ColumnTransformer([
            ("num", Pipeline([("imp", SimpleImputer()), ("sc", StandardScaler())]), ["n0", "n1", "n2", "n3"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["color", "size"]),
        ])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(frame.iloc[:-ROWS], y[:-ROWS])
    inputs = [(c, FloatTensorType([None, 1])) for c in ["n0", "n1", "n2", "n3"]] + \
             [("color", StringTensorType([None, 1])), ("size", StringTensorType([None, 1]))]
    onx = convert_sklearn(pipe3, initial_types=inputs, target_opset={"": 17, "ai.onnx.ml": 3})
    te = frame.iloc[-ROWS:]
    feeds = {c: te[c].to_numpy().astype(np.float32).reshape(-1, 1) for c in ["n0", "n1", "n2", "n3"]}
    feeds["color"] = te["color"].to_numpy().astype(object).reshape(-1, 1)
    feeds["size"] = te["size"].to_numpy().astype(object).reshape(-1, 1)
    return onx, feeds, "ColumnTransformer pipeline: 4 numeric columns (SimpleImputer, StandardScaler) and 2 string columns (OneHotEncoder, one unseen category) into LogisticRegression with string labels"


def m_dtree():
    from sklearn.tree import DecisionTreeClassifier
    X, y = classification(10, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = DecisionTreeClassifier(max_depth=10, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "dtree"), {"X": Xte}, "DecisionTreeClassifier, depth 10, 3 classes"


def m_forest():
    from sklearn.ensemble import RandomForestClassifier
    X, y = classification(11, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "forest", options={"zipmap": False}), {"X": Xte}, "RandomForestClassifier, 30 trees depth 8, 3 classes"


def m_extratrees():
    from sklearn.ensemble import ExtraTreesRegressor
    X, y = regression(12)
    Xtr, ytr, Xte = split(X, y)
    m = ExtraTreesRegressor(n_estimators=30, max_depth=8, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "extratrees"), {"X": Xte}, "ExtraTreesRegressor, 30 trees depth 8"


def m_gb300():
    from sklearn.ensemble import GradientBoostingClassifier
    X, y = classification(13, classes=2)
    Xtr, ytr, Xte = split(X, y)
    m = GradientBoostingClassifier(n_estimators=300, max_depth=3, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "gb300", options={"zipmap": False}), {"X": Xte}, "GradientBoostingClassifier, 300 trees depth 3, binary"


def m_hgb():
    from sklearn.ensemble import HistGradientBoostingRegressor
    X, y = regression(14)
    X = X.copy()
    X[rng(140).random(X.shape) < 0.05] = np.nan
    Xtr, ytr, Xte = split(X, y)
    m = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "hgb"), {"X": Xte}, "HistGradientBoostingRegressor, 50 iterations, 5% NaN inputs"


def m_hgbc():
    from sklearn.ensemble import HistGradientBoostingClassifier
    X, y = classification(15, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "hgbc"), {"X": Xte}, "HistGradientBoostingClassifier, 30 iterations, 3 classes, ZipMap"


def m_kmeans():
    from sklearn.cluster import KMeans
    X, y = classification(16)
    Xtr, ytr, Xte = split(X, y)
    m = KMeans(n_clusters=5, n_init=3, random_state=0).fit(Xtr)
    return sk_onnx(m, X, "kmeans"), {"X": Xte}, "KMeans, 5 clusters (labels and distances)"


def m_mlp():
    from sklearn.neural_network import MLPClassifier
    X, y = classification(17, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=0).fit(Xtr, ytr)
    return sk_onnx(m, X, "mlp", options={"zipmap": False}), {"X": Xte}, "MLPClassifier 10-32-16-3"


def m_lgbm_clf():
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    X, y = classification(18, n_features=20)
    Xtr, ytr, Xte = split(X, y)
    m = lightgbm.LGBMClassifier(n_estimators=100, num_leaves=15, random_state=0, verbose=-1).fit(Xtr, ytr)
    onx = convert_lightgbm(m, initial_types=[("X", FloatTensorType([None, X.shape[1]]))], zipmap=False, target_opset=15)
    return onx, {"X": Xte}, "LightGBM classifier, 100 trees, 15 leaves, binary"


def m_lgbm_reg():
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    X, y = regression(19, n_features=20)
    X = X.copy()
    X[rng(190).random(X.shape) < 0.05] = np.nan
    Xtr, ytr, Xte = split(X, y)
    m = lightgbm.LGBMRegressor(n_estimators=100, num_leaves=15, random_state=0, verbose=-1).fit(Xtr, ytr)
    onx = convert_lightgbm(m, initial_types=[("X", FloatTensorType([None, X.shape[1]]))], target_opset=15)
    return onx, {"X": Xte}, "LightGBM regressor, 100 trees, 15 leaves, 5% NaN inputs"


def m_xgb():
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    X, y = classification(20, classes=3)
    Xtr, ytr, Xte = split(X, y)
    m = xgboost.XGBClassifier(n_estimators=50, max_depth=4, random_state=0).fit(Xtr, ytr)
    onx = convert_xgboost(m, initial_types=[("X", FloatTensorType([None, X.shape[1]]))], target_opset=15)
    return onx, {"X": Xte}, "XGBoost classifier, 50 rounds depth 4, 3 classes"


def m_torch_mlp():
    import io
    import onnx
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(100, 128), torch.nn.ReLU(), torch.nn.Linear(128, 2), torch.nn.Softmax(dim=1))
    net.eval()
    X = rng(21).normal(size=(ROWS, 100)).astype(np.float32)
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.from_numpy(X[:2]),), buf, input_names=["X"], output_names=["Y"],
                      dynamic_axes={"X": {0: "N"}, "Y": {0: "N"}}, opset_version=17, dynamo=False)
    return onnx.load_from_string(buf.getvalue()), {"X": X}, "PyTorch MLP 100-128-2 (torch.onnx.export)"


def m_tree5():
    """A regressor written with ai.onnx.ml 5's TreeEnsemble (converted from the legacy operator)."""
    from sklearn.ensemble import GradientBoostingRegressor
    X, y = regression(22)
    Xtr, ytr, Xte = split(X, y)
    m = GradientBoostingRegressor(n_estimators=40, max_depth=4, random_state=0).fit(Xtr, ytr)
    onx = sk_onnx(m, X, "tree5", target_opset={"": 21, "ai.onnx.ml": 5})
    ops = {n.op_type for n in onx.graph.node}
    if "TreeEnsemble" not in ops:
        onx = legacy_to_tree_ensemble(onx)
    return onx, {"X": Xte}, "GradientBoostingRegressor as ai.onnx.ml 5 TreeEnsemble, 40 trees depth 4"


def m_tree5_members():
    """A hand-written ai.onnx.ml 5 TreeEnsemble with BRANCH_MEMBER nodes, missing-value tracks,
    AVERAGE aggregation and two targets."""
    import onnx
    from onnx import TensorProto, helper
    r = rng(23)
    # Two trees over 4 features. Tree 0: member test on feature 0 (integers 0..9 as floats),
    # then a < test with NaN going left. Tree 1: >= and == tests.
    # nodes: index, feature, mode, split, true, true_leaf, false, false_leaf, missing
    # modes: 0 LEQ 1 LT 2 GTE 3 GT 4 EQ 5 NEQ 6 MEMBER
    nodes = [
        # tree 0
        (0, 6, 0.0, 1, 0, 2, 0, 0),   # feature 0 in {1, 3, 5.5}? true->node1 false->node2
        (1, 1, 0.2, 0, 1, 1, 1, 1),   # feature 1 < 0.2 ? leaf0 : leaf1 (NaN -> true)
        (2, 2, -0.1, 2, 1, 3, 1, 0),  # feature 2 >= -0.1 ? leaf2 : leaf3
        # tree 1
        (3, 3, 0.5, 3, 0, 4, 1, 0),   # feature 3 > 0.5 ? node3 : leaf4
        (0, 4, 4.0, 4, 1, 5, 1, 0),   # feature 0 == 4 ? leaf4 : leaf5
    ]
    # Indices of children are node indices or leaf indices (true_leaf/false_leaf say which).
    feature_ids = [0, 1, 2, 3, 0]
    modes = [6, 1, 2, 3, 4]
    splits = [0.0, 0.2, -0.1, 0.5, 4.0]
    true_ids = [1, 0, 2, 4, 4]
    true_leafs = [0, 1, 1, 0, 1]
    false_ids = [2, 1, 3, 5, 5]
    false_leafs = [0, 1, 1, 1, 1]
    missing = [0, 1, 0, 0, 0]
    members = [1.0, 3.0, 5.5, float("nan")]
    # splits for member nodes are ignored; membership values: NaN separates nodes' lists.
    leaf_targets = [0, 1, 0, 1, 0, 1, 0, 1]
    leaf_weights = [1.0, -2.0, 0.5, 3.0, -1.5, 2.5, 4.0, -0.25]
    node = helper.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml",
        tree_roots=[0, 3],
        nodes_featureids=feature_ids,
        nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, [5], modes),
        nodes_splits=helper.make_tensor("nodes_splits", TensorProto.FLOAT, [5], splits),
        nodes_truenodeids=true_ids, nodes_trueleafs=true_leafs,
        nodes_falsenodeids=false_ids, nodes_falseleafs=false_leafs,
        nodes_missing_value_tracks_true=missing,
        membership_values=helper.make_tensor("membership_values", TensorProto.FLOAT, [4], members),
        leaf_targetids=leaf_targets[:6],
        leaf_weights=helper.make_tensor("leaf_weights", TensorProto.FLOAT, [6], leaf_weights[:6]),
        n_targets=2, aggregate_function=0, post_transform=0,  # AVERAGE, NONE
    )
    graph = helper.make_graph([node], "members",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 2])])
    onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
                            producer_name="mlrepo-fixture")
    onx.ir_version = 10
    X = r.normal(size=(ROWS, 4)).astype(np.float32)
    X[:, 0] = r.integers(0, 7, ROWS).astype(np.float32)
    X[r.random(X.shape) < 0.1] = np.nan
    X[::7, 0] = 5.5
    return onx, {"X": X}, "hand-written ai.onnx.ml 5 TreeEnsemble: BRANCH_MEMBER, LT with NaN tracking true, GTE, GT, EQ, two targets, AVERAGE"


def legacy_to_tree_ensemble(onx):
    """Rewrites a single-target TreeEnsembleRegressor as ai.onnx.ml 5's TreeEnsemble (skl2onnx
    1.20 and onnxmltools 1.16 still write the legacy operator), plus an Add for base_values."""
    import onnx
    from onnx import TensorProto, helper
    (old,) = [n for n in onx.graph.node if n.op_type == "TreeEnsembleRegressor"]
    a = {x.name: helper.get_attribute_value(x) for x in old.attribute}
    modes = [m.decode() for m in a["nodes_modes"]]
    codes = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
    key = list(zip(a["nodes_treeids"], a["nodes_nodeids"]))
    branch = [i for i, m in enumerate(modes) if m != "LEAF"]
    leaves = [i for i, m in enumerate(modes) if m == "LEAF"]
    bidx = {key[i]: k for k, i in enumerate(branch)}
    lidx = {key[i]: k for k, i in enumerate(leaves)}
    weight = {(t, n): w for t, n, w in zip(a["target_treeids"], a["target_nodeids"], a["target_weights"])}
    missing = a.get("nodes_missing_value_tracks_true", [0] * len(modes))
    def child(tree, nid):
        return (1, lidx[(tree, nid)]) if (tree, nid) in lidx else (0, bidx[(tree, nid)])
    t_leaf, t_id, f_leaf, f_id = [], [], [], []
    for i in branch:
        tl, ti = child(a["nodes_treeids"][i], a["nodes_truenodeids"][i])
        fl, fi = child(a["nodes_treeids"][i], a["nodes_falsenodeids"][i])
        t_leaf.append(tl); t_id.append(ti); f_leaf.append(fl); f_id.append(fi)
    roots = []
    for tree in sorted(set(a["nodes_treeids"])):
        roots.append(bidx[(tree, 0)])
    node = helper.make_node(
        "TreeEnsemble", [old.input[0]], ["raw_tree5"], domain="ai.onnx.ml", name="TreeEnsemble",
        tree_roots=roots,
        nodes_featureids=[a["nodes_featureids"][i] for i in branch],
        nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, [len(branch)], [codes[modes[i]] for i in branch]),
        nodes_splits=helper.make_tensor("nodes_splits", TensorProto.FLOAT, [len(branch)], [a["nodes_values"][i] for i in branch]),
        nodes_truenodeids=t_id, nodes_trueleafs=t_leaf, nodes_falsenodeids=f_id, nodes_falseleafs=f_leaf,
        nodes_missing_value_tracks_true=[int(missing[i]) for i in branch],
        leaf_targetids=[0] * len(leaves),
        leaf_weights=helper.make_tensor("leaf_weights", TensorProto.FLOAT, [len(leaves)], [weight[key[i]] for i in leaves]),
        n_targets=1, aggregate_function=1, post_transform=0)
    base = helper.make_tensor("base_values", TensorProto.FLOAT, [1], list(a.get("base_values", [0.0])))
    add = helper.make_node("Add", ["raw_tree5", "base_values"], [old.output[0]], name="AddBase")
    nodes = []
    for n in onx.graph.node:
        nodes.extend([node, add] if n is old else [n])
    graph = helper.make_graph(nodes, onx.graph.name, list(onx.graph.input), list(onx.graph.output),
                              initializer=list(onx.graph.initializer) + [base])
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
                            producer_name="mlrepo-fixture")
    out.ir_version = 10
    onnx.checker.check_model(out)
    return out


MODELS = {
    "logreg": m_logreg, "linreg": m_linreg, "ridge": m_ridge, "lasso": m_lasso, "sgd": m_sgd,
    "linearsvc": m_linearsvc, "scalers": m_scalers, "imputer": m_imputer, "columns": m_columns,
    "dtree": m_dtree, "forest": m_forest, "extratrees": m_extratrees, "gb300": m_gb300,
    "hgb": m_hgb, "hgbc": m_hgbc, "kmeans": m_kmeans, "mlp": m_mlp, "lgbm_clf": m_lgbm_clf,
    "lgbm_reg": m_lgbm_reg, "xgb": m_xgb, "torch_mlp": m_torch_mlp, "tree5": m_tree5,
    "tree5_members": m_tree5_members,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--ops", action="store_true", help="print the operators of each model")
    a = ap.parse_args()
    for name, make in MODELS.items():
        if a.only and name not in a.only:
            continue
        onx, feeds, desc = make()
        record(name, onx, feeds, desc)
        if a.ops:
            ops = sorted({(n.domain or "ai.onnx") + "." + n.op_type for n in onx.graph.node})
            print(f"{name}: {' '.join(ops)}", file=sys.stderr)


if __name__ == "__main__":
    main()
