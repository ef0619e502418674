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
d_parse = dur("parse")      # lineage: parse + column statistics + PCA(1)
ref_eval = wall("mlrepo-eval", "parse")


def cores(tool, wl):
    """Median (user + sys) / wall: how many cores the process kept busy."""
    return med([(r["user"] + r["sys"]) / r["wall"] for r in ok(tool, wl) if r["wall"] > 0])


# ---------------------------------------------------------------- 1 parse
if runs.get(("mlrepo", "parse")) or runs.get(("pandas", "parse")):
    p("## 1. CSV parse to a float32 matrix (%.1f MB, %s × 101)" % (MB, "{:,}".format(ROWS)))
    p("")
    p("mlrepo has no parse-only command. Its parse figure is `mlrepo train` of a PCA with one component (as asked), "
      "which also computes the per-column statistics every trained model stores (mean, std, min, max, deciles) and "
      "a 101 × 101 covariance. `mlrepo eval --model pca1.mlmodel --data train.csv` reads the same CSV through the same "
      "parser and only projects it on one component: the closest to a parse-only figure.")
    p("")
    rows = []
    if n_of("mlrepo", "parse"):
        rows.append(["mlrepo", "`train` pca n_components 1 (parse + column stats + PCA(1)), whole process", n_of("mlrepo", "parse"),
                     sec_wall("mlrepo", "parse"), f(MB / ref_parse, 0), f(cores("mlrepo", "parse")), mb(rss("mlrepo", "parse")), "1.00x", ratio(ref_parse, ref_eval)])
        rows.append(["mlrepo", "same, lineage duration_s", n_of("mlrepo", "parse"), sec_dur("parse"), f(MB / d_parse, 0) if d_parse else "–",
                     "", "", ratio(ref_parse, d_parse), ratio(d_parse, ref_eval)])
    if n_of("mlrepo-eval", "parse"):
        rows.append(["mlrepo", "`eval --model pca1.mlmodel --data train.csv` (parse + projection), whole process", n_of("mlrepo-eval", "parse"),
                     sec_wall("mlrepo-eval", "parse"), f(MB / ref_eval, 0), f(cores("mlrepo-eval", "parse")), mb(rss("mlrepo-eval", "parse")),
                     ratio(ref_eval, ref_parse), "1.00x"])
    for tool, what in (("pandas", "`read_csv(dtype=float32).to_numpy()`, in process"),
                       ("pyarrow", "`pyarrow.csv.read_csv` (float32, multi-threaded) + matrix, in process"),
                       ("numpy", "`loadtxt(dtype=float32)`, in process")):
        if not n_of(tool, "parse"):
            continue
        t = inproc(tool, "parse", "parse_s")
        rows.append([tool, what, n_of(tool, "parse"), sec_in(tool, "parse", "parse_s"), f(MB / t, 0), f(cores(tool, "parse")),
                     mb(rss(tool, "parse")), ratio(t, ref_parse), ratio(t, ref_eval)])
    p(table(["tool", "what is timed", "n", "seconds: median (min–max)", "MB/s", "cores busy (process)", "peak RSS MiB",
             "x (vs mlrepo train pca1)", "x (vs mlrepo eval)"], rows))
    p("")


def train_alone(wl):
    """Lineage duration minus the parse row's (parse + column stats + PCA(1)): the model's own work."""
    d = dur(wl)
    if d is None or d_parse is None:
        return None
    return d - d_parse


def fit_rows(wl, anchors, stage):
    """Rows for logreg / mlp: mlrepo whole process, lineage, training alone, then the anchors."""
    rows = []
    e2e = wall("mlrepo", wl)
    acc = mlrepo_acc(stage)
    m = last_metrics(wl)
    ta = train_alone(wl)
    ep_n = m.get("epochs", EPOCHS)
    if e2e is not None:
        rows.append(["mlrepo", "whole process (parse + column stats + %d epochs)" % ep_n, n_of("mlrepo", wl), sec_wall("mlrepo", wl),
                     f(ROWS * ep_n / e2e, 0), "–", f(acc, 4), f(m.get("loss_last"), 4), mb(rss("mlrepo", wl)), "1.00x", ""])
        d = dur(wl)
        rows.append(["mlrepo", "lineage duration_s (parse + train)", n_of("mlrepo", wl), sec_dur(wl), f(ROWS * ep_n / d, 0) if d else "–",
                     "", "", "", "", ratio(e2e, d), ""])
        if ta and ta > 0:
            rows.append(["mlrepo", "**training alone** (est.: lineage − lineage of the parse+PCA(1) row)", "",
                         f(ta), f(ROWS * ep_n / ta, 0), f(ta / ep_n), "", "", "", ratio(e2e, ta), "1.00x"])
    for tool, what in anchors:
        if not n_of(tool, wl):
            continue
        t = inproc(tool, wl, "fit_s")
        rs = ok(tool, wl)
        it = rs[-1]["out"].get("iterations")
        ep = med([statistics.median(r["out"]["epoch_s"]) for r in rs if r["out"].get("epoch_s")])
        lbfgs = "lbfgs" in tool
        passes = it if (it and lbfgs) else EPOCHS
        label = what + (" (%d iterations)" % it if it and lbfgs else "")
        per_ep = f(ep) if ep else (f(t / EPOCHS) if t and not lbfgs else "–")
        rows.append([tool, label, n_of(tool, wl), sec_in(tool, wl, "fit_s"), f(ROWS * passes / t, 0) if t else "–", per_ep,
                     f(inproc(tool, wl, "accuracy"), 4), f(rs[-1]["out"].get("loss_last"), 4), mb(rss(tool, wl)),
                     ratio(t, e2e), ratio(t, ta) if ta and ta > 0 else "–"])
    return rows, ta


FIT_HDR = ["tool", "what is timed", "n", "seconds: median (min–max)", "samples/s", "s per epoch", "test accuracy", "train loss",
           "peak RSS MiB", "x (vs mlrepo process)", "x (vs mlrepo training alone)"]

goals = []
ta_lr = ta_mlp = None
if runs.get(("mlrepo", "logreg")):
    p("## 2. Logistic regression, %s × 100, 5 epochs, batch 256" % "{:,}".format(ROWS))
    p("")
    p("mlrepo: `logistic_regression` {adam, learning_rate 0.01, batch_size 256, epochs 5} (2-class softmax, C = 1, "
      "standardized inputs). samples/s = rows × epochs / seconds (lbfgs: rows × iterations / seconds). *Training alone* "
      "subtracts the parse+PCA(1) row's lineage duration (parse and column statistics, which every `mlrepo train` "
      "does first, plus a ~20 GFLOP covariance the trainers do not do) from this row's.")
    p("")
    rows, ta_lr = fit_rows("logreg", [
        ("sklearn-lbfgs", "`LogisticRegression()` fit (lbfgs, C = 1, float32 input)"),
        ("sklearn-sgd", "`SGDClassifier(loss='log_loss', max_iter=5, tol=None)` fit"),
        ("pytorch", "eager `nn.Linear(100, 2)` + Adam lr 0.01, batch 256, %s threads, fit" % THREADS),
        ("pytorch-1t", "same, 1 thread (supplementary)"),
    ], "logreg")
    p(table(FIT_HDR, rows))
    p("")

if runs.get(("mlrepo", "mlp")):
    p("## 3. MLP 100 → 128 → 2, Adam, batch 256, 5 epochs")
    p("")
    p("mlrepo: `mlp_classifier` {hidden_layers [128], epochs 5, batch_size 256, learning_rate 0.001, alpha 1e-4, "
      "early_stopping false}; it also computes the full training loss after every epoch (a forward pass over all rows), "
      "which the PyTorch loop does not. scikit-learn: `MLPClassifier(hidden_layer_sizes=(128,), batch_size=256, max_iter=5)`.")
    p("")
    rows, ta_mlp = fit_rows("mlp", [
        ("pytorch", "eager Linear-ReLU-Linear + Adam lr 0.001 (weight_decay 1e-4), batch 256, %s threads, fit" % THREADS),
        ("pytorch-1t", "same, 1 thread (supplementary)"),
        ("sklearn", "`MLPClassifier` fit (float32 input)"),
    ], "mlp")
    p(table(FIT_HDR, rows))
    p("")
    # Goals.
    acc = mlrepo_acc("mlp")
    e2e = wall("mlrepo", "mlp")
    tt = inproc("pytorch", "mlp", "fit_s")
    tt1 = inproc("pytorch-1t", "mlp", "fit_s")
    ts = inproc("sklearn", "mlp", "fit_s")
    t_pandas = inproc("pandas", "parse", "parse_s")
    if tt:
        best = min(x for x in (tt, tt1) if x)
        which = "%s threads" % THREADS if best == tt else "1 thread"
        if ta_mlp and ta_mlp > 0:
            goals.append(["MLP ≥ 1.5× PyTorch CPU at batch 256: training alone vs PyTorch's fit at its faster thread count (%s)" % which,
                          "%.1f s vs %.1f s: **%.2fx**" % (ta_mlp, best, best / ta_mlp), "PASS" if best / ta_mlp >= 1.5 else "FAIL"])
        if e2e:
            goals.append(["same, whole mlrepo process (incl. parse and column stats) vs PyTorch's fit alone",
                          "%.1f s vs %.1f s: %.2fx" % (e2e, best, best / e2e), "PASS" if best / e2e >= 1.5 else "FAIL"])
    if ts:
        if ta_mlp and ta_mlp > 0:
            goals.append(["MLP faster than scikit-learn: training alone vs `MLPClassifier.fit`",
                          "%.1f s vs %.1f s: **%.2fx**" % (ta_mlp, ts, ts / ta_mlp), "PASS" if ts > ta_mlp else "FAIL"])
        if e2e:
            goals.append(["same, whole mlrepo process vs `MLPClassifier.fit` alone", "%.1f s vs %.1f s: %.2fx" % (e2e, ts, ts / e2e),
                          "PASS" if ts > e2e else "FAIL"])
            if t_pandas:
                goals.append(["same, whole mlrepo process vs pandas `read_csv` + `MLPClassifier.fit`",
                              "%.1f s vs %.1f s: %.2fx" % (e2e, t_pandas + ts, (t_pandas + ts) / e2e), "PASS" if t_pandas + ts > e2e else "FAIL"])
    for tool in ("pytorch", "sklearn"):
        a2 = inproc(tool, "mlp", "accuracy")
        if acc is not None and a2 is not None:
            goals.append(["MLP test accuracy within 0.5 points of %s" % tool, "%.4f vs %.4f (%+.2f points)" % (acc, a2, 100 * (acc - a2)),
                          "PASS" if abs(acc - a2) <= 0.005 else "FAIL"])

if runs.get(("mlrepo", "kmeans")) or runs.get(("mlrepo", "pca")):
    p("## 4. k-means (k = 10) and PCA (10 components) on the %s × 100 matrix" % "{:,}".format(ROWS))
    p("")
    p("k-means: k-means++ init, n_init 1, max_iter %s, tol 0 (both run every iteration unless they converge exactly); "
      "sklearn `KMeans(10, n_init=1, tol=0, algorithm='lloyd')`. PCA: sklearn `PCA(10)` (auto solver). "
      "*Model alone* = lineage duration − the parse+PCA(1) row's: for PCA(10) that is PCA(10) minus PCA(1), about "
      "zero, as both spend the same covariance and eigen-decomposition." % PARAMS.get("kmeans_iter", "?"))
    p("")
    rows = []
    for wl, tool_name in (("kmeans", "k-means"), ("pca", "PCA(10)")):
        e2e = wall("mlrepo", wl)
        if e2e is None:
            continue
        m = last_metrics(wl)
        d = dur(wl)
        ta = train_alone(wl)
        if wl == "kmeans":
            qual = "inertia %s, %s iterations" % (f(m.get("inertia"), 0), m.get("iterations", "?"))
        else:
            evr = m.get("explained_variance_ratio") or []
            qual = "explained variance ratio Σ %.5f" % sum(evr) if evr else "–"
        rows.append([tool_name, "mlrepo", "whole process", n_of("mlrepo", wl), sec_wall("mlrepo", wl), qual, mb(rss("mlrepo", wl)), "1.00x", ""])
        rows.append([tool_name, "mlrepo", "lineage duration_s", n_of("mlrepo", wl), sec_dur(wl), "", "", ratio(e2e, d), ""])
        if ta is not None:
            big = ta > 0.25
            rows.append([tool_name, "mlrepo", "model alone (est.)", "", f(ta) if big else "≈ 0 (%s)" % f(ta), "", "",
                         ratio(e2e, ta) if big else "–", "1.00x" if big else ""])
        if n_of("sklearn", wl):
            o = ok("sklearn", wl)[-1]["out"]
            t = inproc("sklearn", wl, "fit_s")
            if wl == "kmeans":
                qual = "inertia %s, %s iterations" % (f(o.get("inertia"), 0), o.get("iterations", "?"))
            else:
                qual = "explained variance ratio Σ %.5f (solver %s)" % (o.get("explained_variance_ratio_sum", float("nan")), o.get("solver", "?"))
            rows.append([tool_name, "sklearn", "fit alone, in process", n_of("sklearn", wl), sec_in("sklearn", wl, "fit_s"), qual,
                         mb(rss("sklearn", wl)), ratio(t, e2e), ratio(t, ta) if ta is not None and ta > 0.25 else "–"])
    p(table(["task", "tool", "what is timed", "n", "seconds: median (min–max)", "result", "peak RSS MiB", "x (vs mlrepo process)",
             "x (vs mlrepo model alone)"], rows))
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
if d_parse and ref_eval:
    lines.append("- **Every `mlrepo train` pays a fixed %.1f s** before the model sees a row (the parse+PCA(1) row's lineage "
                 "duration), while parsing the same CSV through the same parser (`mlrepo eval` of the PCA(1) model) takes "
                 "%.1f s for the whole process (%s MB/s, %s the speed of pandas' `read_csv`). The difference, about %.1f s, is "
                 "the per-column statistics every model file stores (`columnStats`, on one core; see the profile below) plus "
                 "the covariance of PCA(1). The fixed %.1f s is %s of the MLP run and %s of the logistic regression run."
                 % (d_parse, ref_eval, f(MB / ref_eval, 0),
                    ratio(inproc("pandas", "parse", "parse_s"), ref_eval) if n_of("pandas", "parse") else "?",
                    d_parse - ref_eval, d_parse,
                    ("%.0f%%" % (100 * d_parse / dur("mlp"))) if dur("mlp") else "–",
                    ("%.0f%%" % (100 * d_parse / dur("logreg"))) if dur("logreg") else "–"))
cl = []
for wl in ("parse", "logreg", "mlp", "kmeans", "pca"):
    c = cores("mlrepo", wl)
    if c:
        cl.append("%s %.2f" % (wl, c))
if n_of("mlrepo-eval", "parse"):
    cl.append("eval-parse %.2f" % cores("mlrepo-eval", "parse"))
if cl:
    lines.append("- **Cores kept busy** by mlrepo with `--threads %s` ((user + sys) / wall, median): %s. Anything near 1 "
                 "means the run is mostly serial." % (THREADS, ", ".join(cl)))
for name, ta, wl in (("logistic regression", ta_lr, "logreg"), ("MLP", ta_mlp, "mlp")):
    if not ta or ta <= 0:
        continue
    pe = ta / EPOCHS
    parts = ["- **Per epoch, %s**: mlrepo %.2f s (%s samples/s; includes its full-pass loss after each epoch and the "
             "standardization pass spread over 5 epochs)" % (name, pe, f(ROWS / pe, 0))]
    for tool in ("pytorch", "pytorch-1t"):
        rs = ok(tool, wl)
        if not rs:
            continue
        ep = med([statistics.median(r["out"]["epoch_s"]) for r in rs if r["out"].get("epoch_s")])
        full = med([r["out"].get("full_loss_pass_s") for r in rs])
        if ep:
            parts.append("PyTorch at %s: %.2f s (a full-pass loss would add %.2f s) → PyTorch/mlrepo %.2fx"
                         % ("1 thread" if tool.endswith("1t") else "%s threads" % THREADS, ep, full or 0, ep / pe))
    lines.append("; ".join(parts) + ".")
p("\n".join(lines) if lines else "(needs the parse workload)")
p("")

PERF_GROUPS = [
    ("column statistics (`columnStats`: per-column sums, min/max and decile sort, one core)", ("_merge", "_stableSortImpl", "columnStats", "sort")),
    ("GEMM, A read in place (`kernelStridedA`: forward X·W of each minibatch and of the per-epoch full-pass loss; Δ·Wᵀ)", ("kernelStridedA",)),
    ("GEMM, packed (`AVX2Kernels.kernel`: Xᵀ·Δ weight gradients, PCA covariance) and `sgemm` driver/packing", ("AVX2Kernels.kernel(", "sgemm", "MicroKernel", "pack")),
    ("CSV parse (`DatasetChunk`, number parsing, line counting)", ("DatasetChunk", "datasetFastNumber", "datasetCountTerminators")),
    ("Adam step", ("adamStep",)),
    ("memory copies (minibatch gathers, uploads)", ("memmove", "memcpy")),
    ("elementwise (bias, ReLU, softmax, column sums, exp/log)", ("addRowVector", "relu", "softmax", "columnSum", "expf", "log_fma", "Vec.")),
    ("standardization", ("standardization", "applyStandardization")),
    ("kernel: page faults, scheduling", ("[k]",)),
]
for stage, wl, title in (("pca1", "parse", "`mlrepo train pca1` (the parse+PCA(1) row)"), ("mlp", "mlp", "`mlrepo train mlp`")):
    perf = os.path.join(work, "perf.%s.top" % stage)
    if not (os.path.exists(perf) and os.path.getsize(perf)):
        continue
    entries = []
    for line in open(perf):
        pct, _, rest = line.strip().partition("%")
        try:
            entries.append((float(pct), rest.strip()))
        except ValueError:
            pass
    cpu = med([r["user"] + r["sys"] for r in ok("mlrepo", wl)])
    rows, used = [], set()
    for label, keys in PERF_GROUPS:
        tot = 0.0
        for i, (pct, sym) in enumerate(entries):
            if i not in used and any(k in sym for k in keys):
                tot += pct
                used.add(i)
        if tot > 0:
            rows.append([label, "%.1f%%" % tot, f(cpu * tot / 100, 1) if cpu else "–"])
    rest = sum(pct for i, (pct, _) in enumerate(entries) if i not in used)
    rows.append(["other symbols in the top 25", "%.1f%%" % rest, f(cpu * rest / 100, 1) if cpu else "–"])
    p("`perf record` of one extra %s process, self time grouped (top 25 symbols; CPU seconds = share × the median "
      "user + sys time of the %s rows, %s s):" % (title, wl, f(cpu, 1)))
    p("")
    p(table(["where", "share of CPU samples", "≈ CPU seconds"], rows))
    p("")
    if stage == "mlp" and cpu:
        share = {r[0].split(" (")[0]: float(r[1].rstrip("%")) for r in rows}
        gemm = sum(v for k, v in share.items() if k.startswith("GEMM")) * cpu / 100
        steps = EPOCHS * -(-ROWS // 256)
        n_params = 100 * 128 + 128 + 128 * 2 + 2
        fwd = 2 * ROWS * (100 * 128 + 128 * 2)
        bwd = 2 * ROWS * (100 * 128 + 128 * 2 + 128 * 2)
        flops = EPOCHS * (2 * fwd + bwd)  # minibatch forward + full-pass loss forward + backward
        adam = share.get("Adam step", 0) * cpu / 100
        p("Derived: the GEMMs do %.0f GFLOP (per epoch: the minibatch forward, the full-pass loss forward and the "
          "backward pass, so the loss pass is a third of it) in ≈ %.1f CPU-s, **%.0f GFLOP per CPU-second**; "
          "Adam updates %s parameters %s times in ≈ %.1f CPU-s, **%.1f ns per parameter update**."
          % (flops / 1e9, gemm, flops / 1e9 / gemm if gemm else 0, "{:,}".format(n_params), "{:,}".format(steps), adam,
             1e9 * adam / (steps * n_params) if adam else 0))
        p("")
    p("<details><summary>the 25 symbols</summary>")
    p("")
    p("```")
    for line in open(perf):
        p(line.rstrip()[:160])
    p("```")
    p("</details>")
    p("")
failed = sorted({"%s %s" % k for k, v in runs.items() if any(r["failed"] for r in v)})
if failed:
    p("Failed or timed-out runs (left out of the medians): %s; see run.log in the work folder." % ", ".join(failed))
    p("")
print("\n".join(P))
