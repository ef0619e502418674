#!/usr/bin/env python3
"""Markdown report of bench/train.sh: train_report.py WORKDIR DATA_PARAMS_JSON > train.md

WORKDIR holds results.tsv (tool, workload, rep, wall_s, rss_kb, user_s, sys_s, load, outfile),
meta.tsv, out/ (each run's JSON output; mlrepo: stdout, training metrics, lineage record,
eval) and optionally perf.top.
"""
import json
import os
import statistics
import sys

work, data_params = sys.argv[1], sys.argv[2]
data = json.load(open(data_params))
ROWS, EPOCHS = data["rows"], 5
MB = data["train_bytes"] / 1e6
meta = {}
for line in open(os.path.join(work, "meta.tsv")):
    k, _, v = line.rstrip("\n").partition("\t")
    meta[k] = v


PARAMS = dict(kv.split("=", 1) for kv in meta.get("params", "").split() if "=" in kv)
THREADS = PARAMS.get("threads", "?")


def load_json(path):
    try:
        with open(path) as f:
            text = f.read()
        # mlrepo train prints stage lines before the metrics; take the last JSON object.
        start = text.find("{")
        return json.loads(text[start:]) if start >= 0 else {}
    except (OSError, ValueError):
        return {}


runs = {}  # (tool, workload) -> list of dicts
for line in open(os.path.join(work, "results.tsv")):
    tool, wl, rep, wall, rss, us, ss, load, outf = line.rstrip("\n").split("\t")
    r = {"rep": int(rep), "load": float(load), "failed": wall == "NA"}
    if not r["failed"]:
        r.update(wall=float(wall), rss=int(rss) / 1024, user=float(us), sys=float(ss))
    if tool == "mlrepo":
        stage = os.path.basename(outf).split(".")[1]
        base = os.path.join(work, "out", "mlrepo.%s.%s" % (stage, rep))
        r["metrics"] = load_json(base + ".metrics.json")
        lin = load_json(base + ".lineage.json")
        r["duration"] = (lin.get("produced_by") or {}).get("duration_s")
        r["stage"] = stage
    else:
        r["out"] = load_json(outf)
    runs.setdefault((tool, wl), []).append(r)


def ok(tool, wl):
    return [r for r in runs.get((tool, wl), []) if not r["failed"]]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    """The median, with (min–max) when there are several runs."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return "–"
    if len(xs) == 1:
        return f(xs[0])
    return "%s (%s–%s)" % (f(statistics.median(xs)), f(xs[0]), f(xs[-1]))


def sec_wall(tool, wl):
    return spread([r["wall"] for r in ok(tool, wl)])


def sec_in(tool, wl, key):
    return spread([r["out"].get(key) for r in ok(tool, wl)])


def sec_dur(wl):
    return spread([r["duration"] for r in ok("mlrepo", wl)])


def n_of(tool, wl):
    return len(ok(tool, wl))


def wall(tool, wl):
    return med([r["wall"] for r in ok(tool, wl)])


def rss(tool, wl):
    xs = [r["rss"] for r in ok(tool, wl)]
    return max(xs) if xs else None


def inproc(tool, wl, key):
    return med([r["out"].get(key) for r in ok(tool, wl)])


def dur(wl):
    return med([r["duration"] for r in ok("mlrepo", wl)])


def f(x, d=2):
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if abs(x) >= 1e6:
        return "{:,.0f}".format(x)
    return "{:,.{d}f}".format(x, d=d)


def ratio(anchor, ref):
    if anchor is None or ref is None or ref <= 0:
        return "–"
    return "%.2fx" % (anchor / ref)


def mb(x):
    return "–" if x is None else "{:,.0f}".format(x)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def mlrepo_acc(stage):
    return load_json(os.path.join(work, "out", "mlrepo.%s.eval.json" % stage)).get("accuracy")


def last_metrics(wl):
    rs = ok("mlrepo", wl)
    return rs[-1]["metrics"] if rs else {}


def per_epoch(wl5, wl1):
    """(per-epoch seconds, fixed seconds) from the lineage durations of the 5- and 1-epoch runs."""
    d5, d1 = dur(wl5), dur(wl1)
    e5 = last_metrics(wl5).get("epochs", EPOCHS)
    e1 = last_metrics(wl1).get("epochs", 1)
    if d5 is None or d1 is None or e5 == e1:
        return None, None
    pe = (d5 - d1) / (e5 - e1)
    return pe, d1 - e1 * pe


P = []
p = P.append
p("# Built-in training: mlrepo vs scikit-learn, PyTorch, pandas, numpy")
p("")
p("Reproduce: `%s` (the data is generated once by `bench/gen_train_data.py` and reused)." % meta.get("command", "bench/train.sh"))
p("")
p("- date: %s" % meta.get("date", "?"))
p("- host: %s" % meta.get("host", "?"))
p("- mlrepo: %s; %s" % (meta.get("version_mlrepo", "?"), meta.get("swift", "")))
p("- anchors: %s; %s; %s" % (meta.get("version_python", "?"), meta.get("version_torch", "no torch"), meta.get("version_pyarrow", "no pyarrow")))
p("- parameters: %s" % meta.get("params", "?"))
p("- data: train.csv %s rows × 100 float features + label y (%s bytes, %.1f MB), test.csv %s rows; features N(0,1) with 4 decimals, "
  "y = 1[x·w + 0.1 + N(0, 0.33²) > 0], |w| = 1; the noiseless rule scores %.4f on the test set (the ceiling)"
  % ("{:,}".format(ROWS), "{:,}".format(data["train_bytes"]), MB, "{:,}".format(data["test_rows"]), data.get("test_rule_accuracy", float("nan"))))
p("- load average before / after: %s / %s; during: %s" % (meta.get("load_before", "?"), meta.get("load_after", "?"), meta.get("load_during", "?")))
p("- measuring took %s s; staging the data once beforehand (`mlrepo add train.csv test.csv`, untimed in the rows below): %s s"
  % (meta.get("measure_s", "?"), meta.get("first_add_s", "?")))
p("")
p("How it is timed. **mlrepo rows are whole processes** (`mlrepo train STAGE --threads T`, start to exit: "
  "CSV parse, per-column statistics for the model file, standardization, training, model file and lineage record), "
  "wall clock from `date +%s%N`; *lineage* is the record's `duration_s` (parse + train, no process start or record "
  "writing). **Anchor rows time only the named step inside the Python process** (`time.perf_counter()` around "
  "`read_csv` / `loadtxt` or around `fit`); the fit anchors load the data from a `.npy` copy first, untimed. "
  "Peak RSS is GNU time's `%M` of the whole process (the largest over the repetitions). Every figure is the median "
  "of *n* runs; repetitions are interleaved (rep 1 of every tool, then rep 2, …). `x` columns are *anchor time / "
  "mlrepo time*: above 1 means mlrepo is faster. "
  "The VM is shared: check the load figures above. Thread pools that split work statically (OpenBLAS inside "
  "numpy/scikit-learn, PyTorch's OpenMP) slow down sharply when another process holds one of the cores, while "
  "mlrepo hands work out dynamically; the min–max ranges and the PyTorch rows at 1 thread show how much.")
p("")

ref_parse = wall("mlrepo", "parse")
# ---------------------------------------------------------------- 1 parse
if runs.get(("mlrepo", "parse")) or runs.get(("pandas", "parse")):
    p("## 1. CSV parse to a float32 matrix (%.1f MB, %s × 101)" % (MB, "{:,}".format(ROWS)))
    p("")
    rows = []
    if n_of("mlrepo", "parse"):
        rows.append(["mlrepo", "`train` pca n_components 1 (parse + stats + PCA(1)), whole process", n_of("mlrepo", "parse"),
                     sec_wall("mlrepo", "parse"), f(MB / ref_parse, 0), mb(rss("mlrepo", "parse")), "1.00x"])
        d = dur("parse")
        rows.append(["mlrepo", "same, lineage duration_s", n_of("mlrepo", "parse"), sec_dur("parse"), f(MB / d, 0) if d else "–", "", ratio(ref_parse, d) if d else "–"])
    for tool, what in (("pandas", "`read_csv(dtype=float32).to_numpy()`, in process"),
                       ("pyarrow", "`pyarrow.csv.read_csv` (float32, multi-threaded) + matrix, in process"),
                       ("numpy", "`loadtxt(dtype=float32)`, in process")):
        if not n_of(tool, "parse"):
            continue
        t = inproc(tool, "parse", "parse_s")
        rows.append([tool, what, n_of(tool, "parse"), sec_in(tool, "parse", "parse_s"), f(MB / t, 0), mb(rss(tool, "parse")), ratio(t, ref_parse)])
    p(table(["tool", "what is timed", "n", "seconds: median (min–max)", "MB/s", "peak RSS MiB", "x (vs mlrepo process)"], rows))
    p("")


def fit_rows(wl, anchors, stage5, stage1):
    """Rows for logreg / mlp: mlrepo e2e, lineage, train-only estimate, then the anchors."""
    rows = []
    e2e = wall("mlrepo", wl)
    acc = mlrepo_acc(stage5)
    m = last_metrics(wl)
    pe, fixed = per_epoch(wl, wl + "_1epoch")
    if e2e is not None:
        rows.append(["mlrepo", "whole process (parse + stats + %d epochs)" % m.get("epochs", EPOCHS), n_of("mlrepo", wl), sec_wall("mlrepo", wl),
                     f(ROWS * EPOCHS / e2e, 0), "–", f(acc, 4), f(m.get("loss_last"), 4), mb(rss("mlrepo", wl)), "1.00x"])
        d = dur(wl)
        rows.append(["mlrepo", "lineage duration_s (parse + train)", n_of("mlrepo", wl), sec_dur(wl), f(ROWS * EPOCHS / d, 0) if d else "–",
                     "", "", "", "", ratio(e2e, d) if d else "–"])
        if pe:
            rows.append(["mlrepo", "training alone, est. %d × per-epoch (from the 1-epoch run: per-epoch = (d₅ − d₁)/4)" % EPOCHS,
                         "%d+%d" % (n_of("mlrepo", wl), n_of("mlrepo", wl + "_1epoch")), f(EPOCHS * pe), f(ROWS / pe, 0), f(pe),
                         "", "", "", ratio(e2e, EPOCHS * pe)])
    for tool, what in anchors:
        if not n_of(tool, wl):
            continue
        t = inproc(tool, wl, "fit_s")
        rs = ok(tool, wl)
        it = rs[-1]["out"].get("iterations")
        ep = med([statistics.median(r["out"]["epoch_s"]) for r in rs if r["out"].get("epoch_s")])
        passes = it if (it and "lbfgs" in tool) else EPOCHS
        label = what + (" (%d iterations)" % it if it and "lbfgs" in tool else "")
        rows.append([tool, label, n_of(tool, wl), sec_in(tool, wl, "fit_s"), f(ROWS * passes / t, 0) if t else "–", f(ep) if ep else ("%s" % f(t / EPOCHS) if t and passes == EPOCHS else "–"),
                     f(inproc(tool, wl, "accuracy"), 4), f(rs[-1]["out"].get("loss_last"), 4), mb(rss(tool, wl)), ratio(t, e2e)])
    return rows, pe, fixed


FIT_HDR = ["tool", "what is timed", "n", "seconds: median (min–max)", "samples/s", "s per epoch", "test accuracy", "train loss", "peak RSS MiB", "x (vs mlrepo process)"]

goals = []
if runs.get(("mlrepo", "logreg")):
    p("## 2. Logistic regression, %s × 100, 5 epochs, batch 256" % "{:,}".format(ROWS))
    p("")
    p("mlrepo: `logistic_regression` {adam, learning_rate 0.01, batch_size 256, epochs 5} (2-class softmax, C = 1, "
      "standardized inputs). samples/s = rows × epochs / seconds (lbfgs: rows × iterations / seconds).")
    p("")
    rows, pe_lr, fixed_lr = fit_rows("logreg", [
        ("sklearn-lbfgs", "`LogisticRegression()` fit (lbfgs, C = 1, float32 input)"),
        ("sklearn-sgd", "`SGDClassifier(loss='log_loss', max_iter=5, tol=None)` fit"),
        ("pytorch", "eager `nn.Linear(100, 2)` + Adam lr 0.01, batch 256, %s threads, fit" % THREADS),
        ("pytorch-1t", "same, 1 thread (supplementary)"),
    ], "logreg", "logreg1")
    p(table(FIT_HDR, rows))
    p("")
else:
    pe_lr = fixed_lr = None

if runs.get(("mlrepo", "mlp")):
    p("## 3. MLP 100 → 128 → 2, Adam, batch 256, 5 epochs")
    p("")
    p("mlrepo: `mlp_classifier` {hidden_layers [128], epochs 5, batch_size 256, learning_rate 0.001, alpha 1e-4, "
      "early_stopping false}; it also computes the full training loss after every epoch (a forward pass over all rows), "
      "which the PyTorch loop does not. scikit-learn: `MLPClassifier(hidden_layer_sizes=(128,), batch_size=256, max_iter=5)`.")
    p("")
    rows, pe_mlp, fixed_mlp = fit_rows("mlp", [
        ("pytorch", "eager Linear-ReLU-Linear + Adam lr 0.001 (weight_decay 1e-4), batch 256, %s threads, fit" % THREADS),
        ("pytorch-1t", "same, 1 thread (supplementary)"),
        ("sklearn", "`MLPClassifier` fit (float32 input)"),
    ], "mlp", "mlp1")
    p(table(FIT_HDR, rows))
    p("")
    # Goals.
    acc = mlrepo_acc("mlp")
    e2e = wall("mlrepo", "mlp")
    tt = inproc("pytorch", "mlp", "fit_s")
    tt1 = inproc("pytorch-1t", "mlp", "fit_s")
    ts = inproc("sklearn", "mlp", "fit_s")
    if pe_mlp and tt:
        sp = tt / (EPOCHS * pe_mlp)
        best_t = min(x for x in (tt, tt1) if x)
        sp_best = best_t / (EPOCHS * pe_mlp)
        goals.append(["MLP training ≥ 1.5× PyTorch CPU at batch 256 (samples/s, training alone)",
                      "%.2fx vs PyTorch %s threads; %.2fx vs PyTorch's faster setting; whole process vs PyTorch fit: %.2fx"
                      % (sp, THREADS, sp_best, tt / e2e if e2e else float("nan")),
                      "**PASS**" if sp_best >= 1.5 else "**FAIL**"])
    if ts and e2e:
        goals.append(["MLP faster than scikit-learn", "whole mlrepo process %.1f s vs sklearn fit alone %.1f s: %.2fx" % (e2e, ts, ts / e2e),
                      "**PASS**" if ts > e2e else "**FAIL**"])
    for tool in ("pytorch", "sklearn"):
        a2 = inproc(tool, "mlp", "accuracy")
        if acc is not None and a2 is not None:
            goals.append(["MLP accuracy within 0.5 points of %s" % tool, "%.4f vs %.4f (%+.2f points)" % (acc, a2, 100 * (acc - a2)),
                          "**PASS**" if abs(acc - a2) <= 0.005 else "**FAIL**"])
else:
    pe_mlp = fixed_mlp = None

p_parse_dur = dur("parse")
if runs.get(("mlrepo", "kmeans")) or runs.get(("mlrepo", "pca")):
    p("## 4. k-means (k = 10) and PCA (10 components) on the %s × 100 matrix" % "{:,}".format(ROWS))
    p("")
    p("k-means: k-means++ init, n_init 1, max_iter %s, tol 0 (both run every iteration unless they converge exactly); "
      "sklearn `KMeans(10, n_init=1, tol=0, algorithm='lloyd')`. PCA: sklearn `PCA(10)` (auto solver). "
      "*beyond parse* = lineage duration − the median lineage duration of the parse+PCA(1) row (which holds the parse, "
      "the column statistics and a 101-column covariance): roughly the model's own compute." % PARAMS.get("kmeans_iter", "?"))
    p("")
    rows = []
    for wl, tool_name in (("kmeans", "k-means"), ("pca", "PCA(10)")):
        e2e = wall("mlrepo", wl)
        if e2e is None:
            continue
        m = last_metrics(wl)
        d = dur(wl)
        if wl == "kmeans":
            qual = "inertia %s, %s iterations" % (f(m.get("inertia"), 0), m.get("iterations", "?"))
        else:
            evr = m.get("explained_variance_ratio") or []
            qual = "explained variance ratio Σ %.5f" % sum(evr) if evr else "–"
        rows.append([tool_name, "mlrepo", "whole process", n_of("mlrepo", wl), sec_wall("mlrepo", wl), qual, mb(rss("mlrepo", wl)), "1.00x"])
        rows.append([tool_name, "mlrepo", "lineage duration_s", n_of("mlrepo", wl), sec_dur(wl), "", "", ratio(e2e, d) if d else "–"])
        if d and p_parse_dur:
            rows.append([tool_name, "mlrepo", "beyond parse (est.)", "", f(d - p_parse_dur), "", "", ratio(e2e, d - p_parse_dur) if d > p_parse_dur else "–"])
        if n_of("sklearn", wl):
            o = ok("sklearn", wl)[-1]["out"]
            t = inproc("sklearn", wl, "fit_s")
            if wl == "kmeans":
                qual = "inertia %s, %s iterations" % (f(o.get("inertia"), 0), o.get("iterations", "?"))
            else:
                qual = "explained variance ratio Σ %.5f (solver %s)" % (o.get("explained_variance_ratio_sum", float("nan")), o.get("solver", "?"))
            rows.append([tool_name, "sklearn", "fit alone, in process", n_of("sklearn", wl), sec_in("sklearn", wl, "fit_s"), qual, mb(rss("sklearn", wl)), ratio(t, e2e)])
    p(table(["task", "tool", "what is timed", "n", "seconds: median (min–max)", "result", "peak RSS MiB", "x (vs mlrepo process)"], rows))
    p("")

if goals:
    p("## Goals (issue: MLP at batch 256)")
    p("")
    p(table(["goal", "measured", "verdict"], goals))
    p("")

# ---------------------------------------------------------------- where the time goes
p("## Where mlrepo's time goes")
p("")
lines = []
if fixed_mlp is not None or fixed_lr is not None:
    fx = [x for x in (fixed_lr, fixed_mlp) if x is not None]
    lines.append("- **Fixed cost per run** (lineage duration of the 1-epoch run minus one epoch: parse, per-column statistics "
                 "for the model file, standardization, upload): %s s — that is %s of the 5-epoch MLP's lineage duration. "
                 "pandas parses the same file in %s s, pyarrow in %s s; mlrepo's parse+PCA(1) row takes %s s (lineage)."
                 % (" / ".join(f(x) for x in fx) + (" (logreg / MLP)" if len(fx) == 2 else ""),
                    ("%.0f%%" % (100 * fixed_mlp / dur("mlp"))) if fixed_mlp and dur("mlp") else "–",
                    f(inproc("pandas", "parse", "parse_s")), f(inproc("pyarrow", "parse", "parse_s")), f(p_parse_dur)))
for name, pe, wl in (("logistic regression", pe_lr, "logreg"), ("MLP", pe_mlp, "mlp")):
    if pe is None:
        continue
    parts = ["- **Per epoch, %s**: mlrepo %.2f s (%s samples/s, including its full-pass loss evaluation)" % (name, pe, f(ROWS / pe, 0))]
    for tool in ("pytorch", "pytorch-1t"):
        rs = ok(tool, wl)
        if rs:
            ep = med([statistics.median(r["out"]["epoch_s"]) for r in rs if r["out"].get("epoch_s")])
            full = med([r["out"].get("full_loss_pass_s") for r in rs])
            if ep:
                parts.append("PyTorch %s %.2f s (+ %.2f s if it computed the same full-pass loss) → mlrepo/PyTorch per-epoch time %.2fx"
                             % ("1 thread" if tool.endswith("1t") else "%s threads" % THREADS,
                                ep, full or 0, pe / ep))
    lines.append("; ".join(parts) + ".")
p("\n".join(lines) if lines else "(needs the logreg or mlp workload)")
p("")
perf = os.path.join(work, "perf.top")
if os.path.exists(perf) and os.path.getsize(perf):
    p("`perf record` of one whole `mlrepo train mlp` process (self time per symbol, top 25, demangled):")
    p("")
    p("```")
    for line in open(perf):
        p(line.rstrip()[:160])
    p("```")
    p("")
failed = sorted({"%s %s" % k for k, v in runs.items() if any(r["failed"] for r in v)})
if failed:
    p("Failed or timed-out runs (left out of the medians): %s; see run.log in the work folder." % ", ".join(failed))
    p("")
print("\n".join(P))
