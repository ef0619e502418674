#!/usr/bin/env python3
"""The anchors of bench/train.sh: one measurement per process, one JSON line on stdout.

usage: train_anchors.py prepare --train CSV --test CSV   (writes CSV-stem.x.npy / .y.npy once)
       train_anchors.py TASK --train CSV --test CSV [--epochs 5] [--batch 256]
                        [--kmeans-iter 20] [--threads 2] [--seed 0]

Parse tasks (timed: the read into one C-ordered float32 matrix, label column included):
  parse_pandas   pandas.read_csv(dtype=float32) + to_numpy
  parse_numpy    numpy.loadtxt(dtype=float32)
  parse_pyarrow  pyarrow.csv.read_csv (float32 columns, multi-threaded) + a stacked matrix
Fit tasks (timed: the fit only; the data is loaded first, untimed, from the .npy copy that
`prepare` writes next to each CSV (else parsed with pyarrow or pandas), reported as load_s;
accuracy on the test CSV, untimed):
  logreg_lbfgs   sklearn LogisticRegression() (lbfgs, C=1, max_iter=100)
  logreg_sgd     sklearn SGDClassifier(loss='log_loss', max_iter=EPOCHS, tol=None)
  logreg_torch   torch nn.Linear(F, 2) + CrossEntropy, Adam lr 0.01, batch BATCH, EPOCHS
  mlp_sklearn    sklearn MLPClassifier((128,), batch_size=BATCH, max_iter=EPOCHS) (adam, lr 0.001)
  mlp_torch      torch Linear(F,128)-ReLU-Linear(128,2), Adam lr 0.001 (weight_decay 1e-4 =
                 mlrepo's alpha), batch BATCH, EPOCHS
  kmeans_sklearn sklearn KMeans(10, n_init=1, max_iter=KMEANS_ITER, tol=0, lloyd) on the features
  pca_sklearn    sklearn PCA(10) on the features
Torch runs eagerly with torch.set_num_threads(THREADS); scikit-learn's BLAS/OpenMP pools are
limited to THREADS with threadpoolctl. Features are N(0,1) already, so no scaler is fitted
(mlrepo standardizes internally, inside its timed run).
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np


def npy_paths(path):
    base = os.path.splitext(path)[0]
    return base + ".x.npy", base + ".y.npy"


def read_matrix(path):
    """The CSV as (float32 features C-ordered, int64 labels): from the .npy cache written by
    the `prepare` task when present, else parsed with pyarrow (or pandas)."""
    xp, yp = npy_paths(path)
    if os.path.exists(xp) and os.path.exists(yp) and os.path.getmtime(xp) >= os.path.getmtime(path):
        return np.load(xp), np.load(yp)
    return read_csv_matrix(path)


def read_csv_matrix(path):
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        t = pacsv.read_csv(path)
        names = t.column_names
        x = np.empty((t.num_rows, len(names) - 1), dtype=np.float32)
        for j, n in enumerate(names[:-1]):
            x[:, j] = t.column(n).to_numpy()
        y = t.column(names[-1]).to_numpy().astype(np.int64)
        return x, y
    except ImportError:
        import pandas as pd
        df = pd.read_csv(path, dtype=np.float32)
        a = np.ascontiguousarray(df.to_numpy())
        return np.ascontiguousarray(a[:, :-1]), a[:, -1].astype(np.int64)


def parse(task, path):
    t0 = time.perf_counter()
    if task == "parse_pandas":
        import pandas as pd
        m = np.ascontiguousarray(pd.read_csv(path, dtype=np.float32).to_numpy())
    elif task == "parse_numpy":
        m = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    elif task == "parse_pyarrow":
        import pyarrow as pa
        import pyarrow.csv as pacsv
        with open(path) as f:
            header = f.readline().strip().split(",")
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={n: pa.float32() for n in header}))
        names = t.column_names
        m = np.empty((t.num_rows, len(names)), dtype=np.float32)
        for j, n in enumerate(names):
            m[:, j] = t.column(n).to_numpy()
    else:
        raise SystemExit("unknown task " + task)
    s = time.perf_counter() - t0
    assert m.dtype == np.float32 and m.flags.c_contiguous
    return {"parse_s": s, "shape": list(m.shape), "checksum": float(m[:, :-1].sum(dtype=np.float64))}


def torch_fit(kind, x, y, xt, yt, a):
    import torch
    from torch import nn
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    f = x.shape[1]
    if kind == "logreg":
        model, lr, wd = nn.Linear(f, 2), 0.01, 0.0
    else:
        model, lr, wd = nn.Sequential(nn.Linear(f, 128), nn.ReLU(), nn.Linear(128, 2)), 0.001, 1e-4
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    lossf = nn.CrossEntropyLoss()
    n, bs = X.shape[0], a.batch
    epoch_s = []
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        e0 = time.perf_counter()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        epoch_s.append(time.perf_counter() - e0)
    fit = time.perf_counter() - t0
    with torch.no_grad():
        # The full-pass training loss per epoch that mlrepo computes (timed separately, once).
        l0 = time.perf_counter()
        full_loss = float(lossf(model(X), Y))
        full_loss_s = time.perf_counter() - l0
        acc = float((model(torch.from_numpy(xt)).argmax(1) == torch.from_numpy(yt)).float().mean())
    return {"fit_s": fit, "epoch_s": epoch_s, "epochs": a.epochs, "accuracy": acc, "loss_last": full_loss,
            "full_loss_pass_s": full_loss_s, "torch_threads": torch.get_num_threads(), "version": torch.__version__}


def fit(task, a):
    l0 = time.perf_counter()
    x, y = read_matrix(a.train)
    load_s = time.perf_counter() - l0
    xt, yt = read_matrix(a.test)
    out = {"load_s": load_s, "rows": int(x.shape[0])}
    if task in ("logreg_torch", "mlp_torch"):
        out.update(torch_fit(task.split("_")[0], x, y, xt, yt, a))
        return out
    import sklearn
    from threadpoolctl import threadpool_limits
    warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=5 is the point
    out["version"] = sklearn.__version__
    with threadpool_limits(limits=a.threads):
        if task == "logreg_lbfgs":
            from sklearn.linear_model import LogisticRegression
            m = LogisticRegression()
        elif task == "logreg_sgd":
            from sklearn.linear_model import SGDClassifier
            m = SGDClassifier(loss="log_loss", max_iter=a.epochs, tol=None, random_state=a.seed)
        elif task == "mlp_sklearn":
            from sklearn.neural_network import MLPClassifier
            m = MLPClassifier(hidden_layer_sizes=(128,), batch_size=a.batch, max_iter=a.epochs, random_state=a.seed)
        elif task == "kmeans_sklearn":
            from sklearn.cluster import KMeans
            m = KMeans(n_clusters=10, n_init=1, max_iter=a.kmeans_iter, tol=0, algorithm="lloyd", random_state=a.seed)
        elif task == "pca_sklearn":
            from sklearn.decomposition import PCA
            m = PCA(n_components=10, random_state=a.seed)
        else:
            raise SystemExit("unknown task " + task)
        t0 = time.perf_counter()
        if task in ("kmeans_sklearn", "pca_sklearn"):
            m.fit(x)
        else:
            m.fit(x, y)
        out["fit_s"] = time.perf_counter() - t0
    if task == "kmeans_sklearn":
        out.update(inertia=float(m.inertia_), iterations=int(m.n_iter_))
    elif task == "pca_sklearn":
        out.update(explained_variance_ratio_sum=float(m.explained_variance_ratio_.sum()),
                   solver=getattr(m, "_fit_svd_solver", "?"))
    else:
        out["accuracy"] = float(m.score(xt, yt))
        if hasattr(m, "n_iter_"):
            out["iterations"] = int(np.max(m.n_iter_))
        if task == "mlp_sklearn":
            out["loss_last"] = float(m.loss_)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("--train", required=True)
    ap.add_argument("--test")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--kmeans-iter", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.task == "prepare":  # untimed: the .npy cache the fit tasks load from
        for p in (a.train, a.test):
            if p is None:
                continue
            xp, yp = npy_paths(p)
            if not (os.path.exists(xp) and os.path.exists(yp) and os.path.getmtime(xp) >= os.path.getmtime(p)):
                x, y = read_csv_matrix(p)
                np.save(yp, y)
                np.save(xp, x)
        return
    if a.task.startswith("parse_"):
        res = parse(a.task, a.train)
    else:
        res = fit(a.task, a)
    res["task"] = a.task
    print(json.dumps(res))


if __name__ == "__main__":
    main()
