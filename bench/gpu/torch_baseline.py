#!/usr/bin/env python3
"""PyTorch side of bench/gpu/run.sh: the same models, data and optimizer as the mlrepo stages.

usage: torch_baseline.py DATADIR --model logreg|mlp --batch B [--epochs E] [--device cuda|cpu]
                         [--compile] [--seed S] [--threads T]

Prints one JSON object. Fairness rules (see bench/gpu/README.md):
- The data (DATADIR/train_x.npy etc., the exact float32 values of the CSV) is loaded into
  device tensors once, before any timing; that load is reported separately (load_s).
- Models: logreg = Linear(F, 2); mlp = Linear(F, 128), ReLU, Linear(128, 2); CrossEntropy
  (mean over the batch). Initialized as mlrepo does: logreg all zeros; MLP Glorot-uniform
  weights and biases (bound sqrt(6/(fan_in+fan_out))).
- Adam, betas (0.9, 0.999), eps 1e-8, mlrepo's learning rates (logreg 0.01, MLP 0.001) and L2
  (coupled weight decay, weights only: logreg 1/(C·rows) with C = 1, MLP alpha = 1e-4);
  foreach=True (the default multi-tensor Adam on CUDA).
- Each epoch: torch.randperm on the device, shuffled minibatches of B rows (the last one
  partial), eager mode, no .item() per step.
- fit_s: the training loop only, between torch.cuda.synchronize() calls.
- fit_with_loss_s: the same loop plus, after each epoch, the mean training loss over all
  rows (no_grad, chunks of 4096, one .item() per epoch): the work mlrepo's fit_s contains
  (its loss curve), so that ratio compares equal work.
- Before timing, a few warm-up steps (cuBLAS handles, allocator pools; with --compile the
  compile of both batch shapes, reported as compile_s), then the state is reset.
"""
import argparse
import json
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("datadir", nargs="?")
    ap.add_argument("--model", choices=["logreg", "mlp"])
    ap.add_argument("--batch", type=int)
    ap.add_argument("--gemm", action="store_true", help="only measure PyTorch's FP32 GEMM rate (a reference)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if not a.gemm and not (a.datadir and a.model and a.batch):
        ap.error("DATADIR, --model and --batch are needed (or --gemm)")

    import numpy as np
    import torch
    # Full FP32 matmuls, as mlrepo computes (PyTorch's default; said explicitly).
    torch.backends.cuda.matmul.allow_tf32 = False
    if a.gemm:
        return gemm_rates(torch, a.device)

    out = {"tool": "pytorch" + ("-compile" if a.compile else ""), "model": a.model, "batch": a.batch,
           "epochs": a.epochs, "torch": torch.__version__, "device": a.device}
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            print(json.dumps({**out, "error": "torch.cuda.is_available() is False"}))
            return 1
        out["device_name"] = torch.cuda.get_device_name(dev)
        out["torch_cuda"] = torch.version.cuda
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    torch.manual_seed(a.seed)
    # Context creation is not data loading: do it first.
    torch.zeros(1, device=dev)
    sync()

    t = time.perf_counter()
    xtr = torch.from_numpy(np.load(os.path.join(a.datadir, "train_x.npy"))).to(dev)
    ytr = torch.from_numpy(np.load(os.path.join(a.datadir, "train_y.npy"))).to(dev)
    xte = torch.from_numpy(np.load(os.path.join(a.datadir, "test_x.npy"))).to(dev)
    yte = torch.from_numpy(np.load(os.path.join(a.datadir, "test_y.npy"))).to(dev)
    sync()
    out["load_s"] = round(time.perf_counter() - t, 4)
    n, f = xtr.shape

    hidden = [] if a.model == "logreg" else [128]
    sizes = [f] + hidden + [2]
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            if a.model == "logreg":
                lin.weight.zero_(); lin.bias.zero_()
            else:
                bound = math.sqrt(6.0 / (sizes[i] + sizes[i + 1]))
                lin.weight.uniform_(-bound, bound); lin.bias.uniform_(-bound, bound)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    lr = 0.01 if a.model == "logreg" else 0.001
    wd = 1.0 / n if a.model == "logreg" else 1e-4
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    opt = torch.optim.Adam([{"params": weights, "weight_decay": wd}, {"params": biases, "weight_decay": 0.0}],
                           lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)
    lossf = torch.nn.CrossEntropyLoss()
    fwd = model
    if a.compile:
        fwd = torch.compile(model)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = lossf(fwd(xb), yb)
        loss.backward()
        opt.step()

    def mean_loss():
        with torch.no_grad():
            total = torch.zeros((), device=dev, dtype=torch.float64)
            for s in range(0, n, 4096):
                total += torch.nn.functional.cross_entropy(fwd(xtr[s:s + 4096]), ytr[s:s + 4096], reduction="sum").double()
            return (total / n).item()

    # Warm-up, outside the timed loops: the first steps create cuBLAS handles and the caching
    # allocator's pools (and with --compile, compile the step for the full batch and the
    # last, partial one, and the loss pass's forward). Then the parameters and the optimizer
    # go back to their initial state.
    init = {k: v.clone() for k, v in model.state_dict().items()}
    t = time.perf_counter()
    # The same operations as the timed loop (randperm, index gathers: with CUDA's lazy module
    # loading each kernel's first use costs extra).
    perm = torch.randperm(n, device=dev)
    for rows in sorted({a.batch, n % a.batch} - {0}) * 2:
        idx = perm[:rows]
        step(xtr[idx], ytr[idx])
    mean_loss()  # the no-grad forward at the loss pass's shapes (a compile of its own)
    sync()
    out["warmup_s" if not a.compile else "compile_s"] = round(time.perf_counter() - t, 3)

    def reset():
        nonlocal opt
        model.load_state_dict(init)
        opt = torch.optim.Adam([{"params": weights, "weight_decay": wd}, {"params": biases, "weight_decay": 0.0}],
                               lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)

    def train(with_loss):
        curve = []
        sync()
        t0 = time.perf_counter()
        for _ in range(a.epochs):
            perm = torch.randperm(n, device=dev)
            for s in range(0, n, a.batch):
                idx = perm[s:s + a.batch]
                step(xtr[idx], ytr[idx])
            if with_loss:
                curve.append(mean_loss())
        sync()
        return time.perf_counter() - t0, curve

    # Run 1: the bare loop (fresh parameters); run 2: the loop with the per-epoch loss pass,
    # from the same initial state (re-initialized), so both train the same thing.
    reset()
    fit_s, _ = train(False)
    with torch.no_grad():
        acc_bare = (model(xte).argmax(1) == yte).double().mean().item()
    reset()
    fit_loss_s, curve = train(True)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).double().mean().item()
    out.update({"rows": n, "features": f, "fit_s": round(fit_s, 4), "fit_with_loss_s": round(fit_loss_s, 4),
                "steps": a.epochs * math.ceil(n / a.batch), "test_accuracy": round(acc, 5),
                "test_accuracy_bare_loop": round(acc_bare, 5), "loss_curve": [round(v, 6) for v in curve]})
    print(json.dumps(out))
    return 0


def gemm_rates(torch, device):
    """PyTorch's FP32 GEMM rate (TF32 off) at the MLP's shapes and at 4096³: the reference
    for the rate of mlrepo's GEMM (doctor --gpu times its own). One JSON object."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        print(json.dumps({"tool": "pytorch-gemm", "error": "torch.cuda.is_available() is False"}))
        return 1
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    out = {"tool": "pytorch-gemm", "device": device, "torch": torch.__version__, "rates": []}
    g = torch.Generator(device="cpu").manual_seed(0)
    # (m, k, n): forward of the hidden layer at batch 256 and 4096, its weight gradient, a square.
    shapes = [(256, 100, 128), (4096, 100, 128), (100, 4096, 128)] + ([(4096, 4096, 4096)] if cuda else [])
    for m, k, n in shapes:
        x = torch.randn(m, k, generator=g).to(dev)
        y = torch.randn(k, n, generator=g).to(dev)
        for _ in range(3):
            x @ y
        sync()
        reps = max(3, min(2000, int(2e10 / (2 * m * k * n))))
        t = time.perf_counter()
        for _ in range(reps):
            x @ y
        sync()
        s = (time.perf_counter() - t) / reps
        out["rates"].append({"m": m, "k": k, "n": n, "us": round(s * 1e6, 2), "gflops": round(2 * m * k * n / s / 1e9, 1)})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
