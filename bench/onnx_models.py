#!/usr/bin/env python3
"""Helpers of bench/onnx_serve.sh: the data, the two ONNX models, onnxruntime's timings.

  onnx_models.py gen DIR [--rows N] [--eval-rows E] [--seed S]
      100 numeric features x0..x99 and a binary label: eval.f32 (E rows, row-major float32,
      for execution timings), body1.json / body100.json (MLflow "inputs" bodies: rows),
      params.json. Fixed seed.
  onnx_models.py export DIR
      lgbm.onnx: LightGBM, 100 trees (31 leaves), exported with onnxmltools (no ZipMap, so
      both servers answer plain tensors); mlp.onnx: PyTorch MLP 100 -> 128 -> 2 (ReLU,
      softmax), trained briefly with Adam, exported with torch.onnx.export (dynamic batch).
      Runs in the interpreter that has lightgbm, onnxmltools and torch.
  onnx_models.py mlflow DIR
      Saves each model with mlflow.onnx.save_model into DIR/mlflow-lgbm, DIR/mlflow-mlp.
      Runs in the bench venv's interpreter (mlflow, onnxruntime).
  onnx_models.py ort DIR MODEL [--threads T] [--batch B] [--seconds S]
      onnxruntime called in-process on eval.f32, B rows a call: one JSON line like
      mlrepo-bench onnx prints (rows/s, us per batch, us per row).
  onnx_models.py agree DIR MODEL URL
      POSTs 1,000 eval rows (100-row bodies) to URL/invocations and compares the answer with
      onnxruntime in-process: JSON with the label agreement and the largest probability
      difference when probabilities are returned.

Pinned versions the committed results were made with: lightgbm 4.7.0, onnxmltools 1.16.0,
torch 2.15.0, onnx 1.23.2, onnxruntime 1.32.0, mlflow (bench venv) as recorded in the report.
"""
import argparse
import json
import os
import sys
import time
import urllib.request

F = 100


def cmd_gen(a):
    import numpy as np
    rng = np.random.default_rng(a.seed)
    n = a.rows + a.eval_rows
    x = rng.normal(0.0, 1.0, size=(n, F)).astype(np.float32)
    w = rng.normal(0.0, 1.0, size=F)
    logit = x @ w / np.sqrt(F) * 2.0 + np.sin(x[:, 0] * 2) + rng.logistic(0, 0.5, size=n)
    y = (logit > 0).astype(np.int64)
    os.makedirs(a.dir, exist_ok=True)
    np.save(os.path.join(a.dir, "train_x.npy"), x[:a.rows])
    np.save(os.path.join(a.dir, "train_y.npy"), y[:a.rows])
    x[a.rows:].astype("<f4").tofile(os.path.join(a.dir, "eval.f32"))
    cols = ["x%d" % j for j in range(F)]
    ev = x[a.rows:]
    for k in (1, 100):
        data = [[float("%.6g" % v) for v in r] for r in ev[:k]]
        with open(os.path.join(a.dir, "body%d.json" % k), "w") as fh:
            # MLflow's tensor form ("inputs": rows): its onnx flavor cannot answer a DataFrame
            # body for a model with a [N, 2] output (it builds a DataFrame of the outputs).
            json.dump({"inputs": data}, fh, separators=(",", ":"))
    with open(os.path.join(a.dir, "params.json"), "w") as fh:
        json.dump({"rows": a.rows, "eval_rows": a.eval_rows, "features": F, "seed": a.seed}, fh)


def cmd_export(a):
    import numpy as np
    x = np.load(os.path.join(a.dir, "train_x.npy"))
    y = np.load(os.path.join(a.dir, "train_y.npy"))

    import lightgbm as lgb
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    clf = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, learning_rate=0.1, random_state=0, verbose=-1)
    clf.fit(x, y)
    onx = onnxmltools.convert_lightgbm(clf, initial_types=[("input", FloatTensorType([None, F]))],
                                       zipmap=False, target_opset=15)
    with open(os.path.join(a.dir, "lgbm.onnx"), "wb") as fh:
        fh.write(onx.SerializeToString())

    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(F, 128), torch.nn.ReLU(), torch.nn.Linear(128, 2), torch.nn.Softmax(dim=1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(3):
        for i in range(0, len(xt), 256):
            opt.zero_grad()
            p = net(xt[i:i + 256])
            loss = torch.nn.functional.nll_loss(torch.log(p + 1e-9), yt[i:i + 256])
            loss.backward()
            opt.step()
    net.eval()
    kw = {}
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        kw["dynamo"] = False
    torch.onnx.export(net, torch.zeros(1, F), os.path.join(a.dir, "mlp.onnx"), input_names=["input"],
                      output_names=["probabilities"], dynamic_axes={"input": {0: "N"}, "probabilities": {0: "N"}},
                      opset_version=17, **kw)
    print(json.dumps({"lightgbm_train_accuracy": float((clf.predict(x) == y).mean())}))


def cmd_mlflow(a):
    import onnx
    import mlflow.onnx
    for m in ("lgbm", "mlp"):
        out = os.path.join(a.dir, "mlflow-" + m)
        if os.path.exists(out):
            import shutil
            shutil.rmtree(out)
        mlflow.onnx.save_model(onnx.load(os.path.join(a.dir, m + ".onnx")), out)


def session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def cmd_ort(a):
    import numpy as np
    x = np.fromfile(os.path.join(a.dir, "eval.f32"), dtype="<f4").reshape(-1, F)
    s = session(os.path.join(a.dir, a.model), a.threads)
    name = s.get_inputs()[0].name
    b = a.batch
    batches = [x[i * b:(i + 1) * b].copy() for i in range(min(len(x) // b, 64))]
    for f in batches[:4]:
        s.run(None, {name: f})
    runs = 0
    t0 = time.perf_counter()
    t = t0
    while t - t0 < a.seconds:
        for _ in range(max(1, min(1000, 20000 // b))):
            s.run(None, {name: batches[runs % len(batches)]})
            runs += 1
        t = time.perf_counter()
    el = t - t0
    rows = runs * b
    print(json.dumps({"model": a.model, "batch": b, "threads": a.threads, "runs": runs, "seconds": round(el, 3),
                      "rows_per_s": int(rows / el), "us_per_batch": round(el / runs * 1e6, 3),
                      "us_per_row": round(el / rows * 1e6, 3)}))


def cmd_agree(a):
    import numpy as np
    x = np.fromfile(os.path.join(a.dir, "eval.f32"), dtype="<f4").reshape(-1, F)[:1000]
    s = session(os.path.join(a.dir, a.model), 1)
    outs = s.run(None, {s.get_inputs()[0].name: x})
    cols = ["x%d" % j for j in range(F)]
    got = []
    for i in range(0, len(x), 100):
        body = json.dumps({"inputs": x[i:i + 100].tolist()}).encode()
        req = urllib.request.Request(a.url + "/invocations?probabilities=1", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            got.append(json.loads(r.read()))
    # The reference: the label output when there is one (int64), else argmax of the
    # probabilities; probabilities = the float output of width 2.
    probs = next((o for o in outs if o.dtype == np.float32 and o.ndim == 2), None)
    labels = next((o for o in outs if o.dtype == np.int64), None)
    if labels is None and probs is not None:
        labels = probs.argmax(axis=1)
    pred = [p for g in got for p in g["predictions"]]
    res = {"rows": len(x), "answered": len(pred)}
    if labels is not None and len(pred) == len(labels):
        flat = [p if not isinstance(p, list) else int(np.argmax(p)) for p in pred]
        res["label_agreement"] = float(np.mean([int(p) == int(l) for p, l in zip(flat, labels.reshape(-1))]))
    mp = [p for g in got for p in (g.get("probabilities") or [])]
    if probs is not None and len(mp) == len(probs):
        res["max_abs_probability_diff"] = float(np.max(np.abs(np.array(mp, dtype=np.float64) - probs)))
    print(json.dumps(res))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen"); g.add_argument("dir"); g.add_argument("--rows", type=int, default=20000)
    g.add_argument("--eval-rows", type=int, default=20000); g.add_argument("--seed", type=int, default=7)
    e = sub.add_parser("export"); e.add_argument("dir")
    m = sub.add_parser("mlflow"); m.add_argument("dir")
    o = sub.add_parser("ort"); o.add_argument("dir"); o.add_argument("model")
    o.add_argument("--threads", type=int, default=1); o.add_argument("--batch", type=int, default=1)
    o.add_argument("--seconds", type=float, default=3)
    ag = sub.add_parser("agree"); ag.add_argument("dir"); ag.add_argument("model"); ag.add_argument("url")
    a = p.parse_args()
    {"gen": cmd_gen, "export": cmd_export, "mlflow": cmd_mlflow, "ort": cmd_ort, "agree": cmd_agree}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
