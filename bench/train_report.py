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
    parts = line.rstrip("\n").split("\t")
    tool, wl, rep, wall, rss, us, ss, load, outf = parts[:9]
    r = {"rep": int(rep), "load": float(load), "failed": wall == "NA"}
    # others: cores kept busy by everything else on the machine during the run (train.sh ≥ this
    # version); steal: cores taken by the hypervisor.
    r["others"] = float(parts[9]) if len(parts) > 9 and parts[9] != "NA" else None
    r["steal"] = float(parts[10]) if len(parts) > 10 and parts[10] != "NA" else None
    if not r["failed"]:
        r.update(wall=float(wall), rss=int(rss) / 1024, user=float(us), sys=float(ss))
    if tool == "mlrepo":
        stage = os.path.basename(outf).split(".")[1]
        base = os.path.join(work, "out", "mlrepo.%s.%s" % (stage, rep))
        r["metrics"] = load_json(base + ".metrics.json")
        lin = load_json(base + ".lineage.json")
        r["duration"] = (lin.get("produced_by") or {}).get("duration_s")
        # Phase timings (read_s, column_stats_s, fit_s) in the record's environment (mlrepo ≥ 8fb4b7b).
        r["phases"] = ((lin.get("produced_by") or {}).get("environment") or {}).get("phases") or {}
        r["stage"] = stage
    else:
        r["out"] = load_json(outf)
    runs.setdefault((tool, wl), []).append(r)


DISTURB = 0.25  # cores kept busy by other processes during a run, at or above which it is "disturbed"


def disturbed(r):
    return (r.get("others") or 0) >= DISTURB


def ok(tool, wl):
    """The runs that count: the undisturbed ones when there is any, else all (marked †)."""
    done = [r for r in runs.get((tool, wl), []) if not r["failed"]]
    clean = [r for r in done if not disturbed(r)]
    return clean or done


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


def mark(tool, wl):
    """'†' when the figure rests on runs that shared the machine with other work (≥ DISTURB cores)."""
    return " †" if any(disturbed(r) for r in ok(tool, wl)) else ""


def sec_wall(tool, wl):
    return spread([r["wall"] for r in ok(tool, wl)]) + mark(tool, wl)


def sec_in(tool, wl, key):
    return spread([r["out"].get(key) for r in ok(tool, wl)]) + mark(tool, wl)


def sec_dur(wl):
    return spread([r["duration"] for r in ok("mlrepo", wl)]) + mark("mlrepo", wl)


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
  "wall clock from `date +%%s%%N`; *lineage* is the record's `duration_s` (parse + train, no process start or record "
  "writing). **Anchor rows time only the named step inside the Python process** (`time.perf_counter()` around "
  "`read_csv` / `loadtxt` or around `fit`); the fit anchors load the data from a `.npy` copy first, untimed. "
  "Peak RSS is GNU time's `%%M` of the whole process (the largest over the repetitions). Repetitions are interleaved "
  "(rep 1 of every tool, then rep 2, …). `x` columns are *anchor time / mlrepo time*: above 1 means mlrepo is faster. "
  "**The VM is shared** with other work (builds, other benchmarks), so every run also records how many cores other "
  "processes kept busy meanwhile (from `/proc/stat`; see the last section). A run during which they kept ≥ %.2f cores "
  "busy is *disturbed*: every figure is the median of the *n* undisturbed runs of its row, or, when a row has none, "
  "of all its runs, marked †. Thread pools that wait for all their threads at every step (OpenBLAS inside "
  "numpy/scikit-learn, PyTorch's OpenMP) slow down far more than the share of the cores taken, so † figures can be "
  "several times too slow." % DISTURB)
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


t_pandas = inproc("pandas", "parse", "parse_s")  # pandas read_csv alone: the anchors' end-to-end parse


def phase(wl, key):
    """Median of a phase timing of the lineage records of (mlrepo, wl)."""
    return med([r["phases"].get(key) for r in ok("mlrepo", wl)])


# With phase timings in the lineage records, mlrepo's training alone is measured (fit_s: the
# trainer, from the parsed matrix to the fitted model: standardization, upload, fit, training
# metrics); the "with column stats" figure adds the per-column statistics every model file
# stores. Older binaries have no phases: both are then estimated from lineage durations.
HAVE_PHASES = any(r.get("phases") for (t, _), v in runs.items() if t == "mlrepo" for r in v)
A_LBL, H_LBL = ("fit_s", "with column stats") if HAVE_PHASES else ("est.", "conservative")


def train_alone(wl):
    """mlrepo's training alone: the lineage's phases.fit_s; without phases, estimated as this
    row's lineage duration minus the parse+PCA(1) row's (parse, column statistics and
    standardization, plus PCA(1)'s covariance: it leans in mlrepo's favour by that covariance)."""
    if HAVE_PHASES:
        return phase(wl, "fit_s")
    d = dur(wl)
    if d is None or d_parse is None:
        return None
    return d - d_parse


def train_alone_hi(wl):
    """Training alone with the column statistics counted as training: phases.fit_s +
    column_stats_s; without phases, lineage duration minus the whole `mlrepo eval` parse process
    (parse + standardization + a projection, no column statistics)."""
    if HAVE_PHASES:
        a, b = phase(wl, "fit_s"), phase(wl, "column_stats_s")
        return a + b if a is not None and b is not None else None
    d = dur(wl)
    if d is None or ref_eval is None:
        return None
    return d - ref_eval


def iters_of(wl):
    m = last_metrics(wl)
    return m.get("iterations")


def fit_rows(wl, anchors, stage):
    """Rows for the classifiers: mlrepo whole process, lineage, training alone, then the anchors."""
    rows = []
    e2e = wall("mlrepo", wl)
    acc = mlrepo_acc(stage)
    m = last_metrics(wl)
    ta, hi = train_alone(wl), train_alone_hi(wl)
    lbfgs = m.get("optimizer") == "lbfgs"
    passes = (m.get("iterations") or 1) if lbfgs else m.get("epochs", EPOCHS)
    unit = "iterations" if lbfgs else "epochs"
    if e2e is not None:
        what = "whole process (parse + column stats + %s %s%s)" % (passes, unit, ", converged" if m.get("converged") else "")
        rows.append(["mlrepo", what, n_of("mlrepo", wl), sec_wall("mlrepo", wl), f(ROWS * passes / e2e, 0), "–", f(acc, 4),
                     f(m.get("loss_last"), 4), mb(rss("mlrepo", wl)), "1.00x", ""])
        d = dur(wl)
        rows.append(["mlrepo", "lineage duration_s (parse + train)", n_of("mlrepo", wl), sec_dur(wl), f(ROWS * passes / d, 0) if d else "–",
                     "", "", "", "", ratio(e2e, d), ""])
        if ta and ta > 0:
            what = ("**training alone** (lineage `phases.fit_s`: standardization, upload, fit, training metrics; "
                    "in brackets with the column statistics, `column_stats_s`)" if HAVE_PHASES else
                    "**training alone** (est.: lineage − the parse+PCA(1) row's lineage; conservative: lineage − "
                    "the `eval` parse process, so column stats count as training)")
            rows.append(["mlrepo", what, n_of("mlrepo", wl) if HAVE_PHASES else "",
                         "%s (%s %s)" % (f(ta), H_LBL, f(hi)), f(ROWS * passes / ta, 0), f(ta / passes, 3), "", "", "",
                         ratio(e2e, ta), "1.00x"])
    for tool, what in anchors:
        if not n_of(tool, wl):
            continue
        t = inproc(tool, wl, "fit_s")
        rs = ok(tool, wl)
        it = rs[-1]["out"].get("iterations")
        ep = med([statistics.median(r["out"]["epoch_s"]) for r in rs if r["out"].get("epoch_s")])
        a_lbfgs = "lbfgs" in tool
        a_passes = it if (it and a_lbfgs) else EPOCHS
        label = what + (" (%d iterations)" % it if it and a_lbfgs else "")
        per = f(ep, 3) if ep else (f(t / a_passes, 3) if t else "–")
        rows.append([tool, label, n_of(tool, wl), sec_in(tool, wl, "fit_s"), f(ROWS * a_passes / t, 0) if t else "–", per,
                     f(inproc(tool, wl, "accuracy"), 4), f(rs[-1]["out"].get("loss_last"), 4), mb(rss(tool, wl)),
                     ratio(t, e2e), ratio(t, ta) if ta and ta > 0 else "–"])
    return rows


FIT_HDR = ["tool", "what is timed", "n", "seconds: median (min–max)", "samples/s (rows × passes / s)", "s per epoch or iteration",
           "test accuracy", "train loss", "peak RSS MiB", "x (vs mlrepo process)", "x (vs mlrepo training alone)"]

# (workload, anchor tool, goal label) of every fit anchor; filled by the sections below, used by
# the end-to-end table and the goals.
E2E = []

if runs.get(("mlrepo", "logreg_lbfgs")):
    p("## 2a. Logistic regression, full-batch L-BFGS (the default solver), %s × 100" % "{:,}".format(ROWS))
    p("")
    p("The like-for-like pair: mlrepo `logistic_regression` with no params (optimizer lbfgs, C = 1, max_iter 100, "
      "tol 1e-4: scikit-learn's objective, mean cross-entropy + ‖W‖²/(2·C·n), one weight vector for two classes; "
      "inputs standardized inside the timed run) against scikit-learn `LogisticRegression()` (lbfgs, C = 1, "
      "max_iter 100, float32 input; the features are already N(0,1)). samples/s = rows × iterations / seconds; "
      "a line search may evaluate the loss more than once per iteration on either side.")
    p("")
    p(table(FIT_HDR, fit_rows("logreg_lbfgs", [
        ("sklearn-lbfgs", "`LogisticRegression()` fit (lbfgs, C = 1, float32 input)"),
    ], "logreg_lbfgs")))
    p("")
    E2E.append(("logreg_lbfgs", "sklearn-lbfgs", "logistic regression, lbfgs: `LogisticRegression()`"))

if runs.get(("mlrepo", "logreg")):
    p("## 2b. Logistic regression, Adam, 5 epochs, batch 256, %s × 100" % "{:,}".format(ROWS))
    p("")
    p("mlrepo: `logistic_regression` {optimizer adam, learning_rate 0.01, batch_size 256, epochs 5} (2-class softmax, "
      "standardized inputs; it also computes the full training loss after every epoch). Against PyTorch's same loop "
      "and scikit-learn's `SGDClassifier` (plain SGD, 5 epochs: the minibatch counterpart scikit-learn has). "
      "*Training alone*: see 2a and the notes under the goals.")
    p("")
    p(table(FIT_HDR, fit_rows("logreg", [
        ("sklearn-sgd", "`SGDClassifier(loss='log_loss', max_iter=5, tol=None)` fit"),
        ("pytorch", "eager `nn.Linear(100, 2)` + Adam lr 0.01, batch 256, %s threads, fit" % THREADS),
        ("pytorch-1t", "same, 1 thread (supplementary)"),
    ], "logreg")))
    p("")
    E2E.append(("logreg", "sklearn-sgd", "logistic regression, 5 epochs: `SGDClassifier`"))
    E2E.append(("logreg", "pytorch", "logistic regression, 5 epochs: PyTorch, %s threads" % THREADS))

if runs.get(("mlrepo", "mlp")):
    p("## 3. MLP 100 → 128 → 2, Adam, batch 256, 5 epochs")
    p("")
    p("mlrepo: `mlp_classifier` {hidden_layers [128], epochs 5, batch_size 256, learning_rate 0.001, alpha 1e-4, "
      "early_stopping false}; it also computes the full training loss after every epoch (a forward pass over all rows), "
      "which the PyTorch loop does not. scikit-learn: `MLPClassifier(hidden_layer_sizes=(128,), batch_size=256, max_iter=5)`.")
    p("")
    p(table(FIT_HDR, fit_rows("mlp", [
        ("pytorch", "eager Linear-ReLU-Linear + Adam lr 0.001 (weight_decay 1e-4), batch 256, %s threads, fit" % THREADS),
        ("pytorch-1t", "same, 1 thread (supplementary)"),
        ("sklearn", "`MLPClassifier` fit (float32 input)"),
    ], "mlp")))
    p("")
    E2E.append(("mlp", "sklearn", "MLP: `MLPClassifier`"))
    E2E.append(("mlp", "pytorch", "MLP: PyTorch, %s threads" % THREADS))
    E2E.append(("mlp", "pytorch-1t", "MLP: PyTorch, 1 thread"))

if runs.get(("mlrepo", "kmeans")) or runs.get(("mlrepo", "pca")):
    p("## 4. k-means (k = 10) and PCA (10 components) on the %s × 100 matrix" % "{:,}".format(ROWS))
    p("")
    p("k-means: k-means++ init, n_init 1, max_iter %s, tol 0 (both run every iteration unless they converge exactly); "
      "sklearn `KMeans(10, n_init=1, tol=0, algorithm='lloyd')`. PCA: sklearn `PCA(10)` (auto solver). %s"
      % (PARAMS.get("kmeans_iter", "?"),
         "*Model alone* = the lineage's `phases.fit_s` (standardization, upload, the fit), in brackets with the column "
         "statistics (`column_stats_s`)." if HAVE_PHASES else
         "*Model alone, est.* = lineage duration − the parse+PCA(1) row's. For PCA(10) that is PCA(10) minus PCA(1), "
         "about zero, as both spend the same covariance and eigen-decomposition, so PCA gets the conservative figure "
         "only (lineage − the `eval` parse process: column statistics + covariance + eigen-decomposition)."))
    p("")
    rows = []
    for wl, tool_name in (("kmeans", "k-means"), ("pca", "PCA(10)")):
        e2e = wall("mlrepo", wl)
        if e2e is None:
            continue
        m = last_metrics(wl)
        d = dur(wl)
        ta, hi = train_alone(wl), train_alone_hi(wl)
        if wl == "kmeans":
            qual = "inertia %s, %s iterations" % (f(m.get("inertia"), 0), m.get("iterations", "?"))
        else:
            evr = m.get("explained_variance_ratio") or []
            qual = "explained variance ratio Σ %.5f" % sum(evr) if evr else "–"
        rows.append([tool_name, "mlrepo", "whole process", n_of("mlrepo", wl), sec_wall("mlrepo", wl), qual, mb(rss("mlrepo", wl)), "1.00x", ""])
        rows.append([tool_name, "mlrepo", "lineage duration_s", n_of("mlrepo", wl), sec_dur(wl), "", "", ratio(e2e, d), ""])
        ref_alone = None
        if HAVE_PHASES and ta is not None:
            ref_alone = ta
            rows.append([tool_name, "mlrepo", "model alone (`phases.fit_s`; with column stats %s)" % f(hi), n_of("mlrepo", wl), f(ta), "", "",
                         ratio(e2e, ta), "1.00x"])
        elif wl == "kmeans" and ta is not None:
            ref_alone = ta
            rows.append([tool_name, "mlrepo", "model alone (est.; conservative %s)" % f(hi), "", f(ta), "", "", ratio(e2e, ta), "1.00x"])
        elif wl == "pca" and hi is not None:
            ref_alone = hi if hi > 0 else None
            rows.append([tool_name, "mlrepo", "model alone, conservative (column stats + covariance + eigen; est. lineage − PCA(1)'s: %s)" % f(ta),
                         "", f(hi), "", "", ratio(e2e, hi) if hi > 0 else "–", "1.00x"])
        if n_of("sklearn", wl):
            o = ok("sklearn", wl)[-1]["out"]
            t = inproc("sklearn", wl, "fit_s")
            if wl == "kmeans":
                qual = "inertia %s, %s iterations" % (f(o.get("inertia"), 0), o.get("iterations", "?"))
            else:
                qual = "explained variance ratio Σ %.5f (solver %s)" % (o.get("explained_variance_ratio_sum", float("nan")), o.get("solver", "?"))
            rows.append([tool_name, "sklearn", "fit alone, in process", n_of("sklearn", wl), sec_in("sklearn", wl, "fit_s"), qual,
                         mb(rss("sklearn", wl)), ratio(t, e2e), ratio(t, ref_alone) if ref_alone else "–"])
            E2E.append((wl, "sklearn", "%s: `%s`" % (tool_name, "KMeans" if wl == "kmeans" else "PCA")))
    p(table(["task", "tool", "what is timed", "n", "seconds: median (min–max)", "result", "peak RSS MiB", "x (vs mlrepo process)",
             "x (vs mlrepo model alone)"], rows))
    p("")

# ---------------------------------------------------------------- end to end
e2e_rows = []
for wl, tool, label in E2E:
    e = wall("mlrepo", wl)
    t = inproc(tool, wl, "fit_s")
    if e is None or t is None or not n_of(tool, wl):
        continue
    e2e_rows.append([label, f(e), f(t_pandas), f(t), f(t_pandas + t) if t_pandas else "–",
                     ratio(t_pandas + t, e) if t_pandas else "–"])
if e2e_rows:
    p("## 5. End to end: CSV file to trained model")
    p("")
    p("mlrepo's whole process (`mlrepo train STAGE`: start, parse, column statistics, standardization, training, model "
      "file, lineage record) against the anchor's pandas `read_csv(dtype=float32).to_numpy()` median (section 1) plus "
      "its fit median. The anchor side leaves out the Python start and imports (about a second with scikit-learn or "
      "torch), splitting off the label column, scaling (mlrepo standardizes; the generated features are N(0,1) "
      "already) and saving the model, so it leans in the anchors' favour.")
    p("")
    p(table(["workload: anchor", "mlrepo whole process, s", "pandas read_csv, s", "anchor fit, s", "read_csv + fit, s",
             "x (read_csv + fit / mlrepo)"], e2e_rows))
    p("")

# ---------------------------------------------------------------- goals
VERDICT = lambda ok_: "PASS" if ok_ else "FAIL"


def both(ta, hi, anchor, need):
    """Verdict of a training-alone comparison: anchor / ours ≥ need on training alone and on
    training + column statistics (or, without phase timings, on the estimate and on the
    conservative figure)."""
    a = ta is not None and ta > 0 and anchor / ta >= need
    b = hi is not None and hi > 0 and anchor / hi >= need
    if a and b:
        return "PASS"
    if a:
        return ("PASS on fit alone, FAIL with the column statistics" if HAVE_PHASES else
                "PASS on the estimate, FAIL on the conservative figure")
    return "FAIL"


def r2(a, b):
    return "%.2fx" % (a / b) if a is not None and b and b > 0 else "–"


goals = []


def sk_goal(name, wl, tool, anchor_what, alone_hi=True):
    """The three like-for-like rows of 'faster than scikit-learn' for one workload."""
    t = inproc(tool, wl, "fit_s")
    e = wall("mlrepo", wl)
    if t is None or e is None:
        return
    ta, hi = train_alone(wl), train_alone_hi(wl)
    if wl == "pca" and not HAVE_PHASES:
        goals.append(["%s faster than scikit-learn: mlrepo model alone vs `%s` fit alone" % (name, anchor_what),
                      "conservative %s s vs %s s: **%s** (the estimate that subtracts PCA(1)'s lineage is ≈ 0 by construction; "
                      "see note 2)" % (f(hi), f(t), r2(t, hi)),
                      "PASS" if hi is not None and hi > 0 and t / hi > 1 else "FAIL (conservative figure); see note 2"])
    else:
        goals.append(["%s faster than scikit-learn: mlrepo training alone vs `%s` fit alone" % (name, anchor_what),
                      "%s %s s vs %s s: **%s** (%s %s s: %s)" % (A_LBL, f(ta), f(t), r2(t, ta), H_LBL, f(hi), r2(t, hi)),
                      both(ta, hi, t, 1.0 + 1e-9)])
    if t_pandas:
        goals.append(["%s faster than scikit-learn: mlrepo whole process vs pandas `read_csv` + `%s` fit" % (name, anchor_what),
                      "%s s vs %s s: **%s**" % (f(e), f(t_pandas + t), r2(t_pandas + t, e)), VERDICT(t_pandas + t > e)])
    goals.append(["(strictest) %s: mlrepo whole process vs `%s` fit alone" % (name, anchor_what),
                  "%s s vs %s s: %s" % (f(e), f(t), r2(t, e)), VERDICT(t > e)])


def acc_goal(name, stage, wl, tool):
    a1, a2 = mlrepo_acc(stage), inproc(tool, wl, "accuracy")
    if a1 is not None and a2 is not None:
        goals.append(["%s test accuracy within 0.5 points of %s" % (name, tool), "%.4f vs %.4f (%+.2f points)" % (a1, a2, 100 * (a1 - a2)),
                      VERDICT(abs(a1 - a2) <= 0.005)])


sk_goal("Logistic regression (lbfgs, the like-for-like pair)", "logreg_lbfgs", "sklearn-lbfgs", "LogisticRegression()")
acc_goal("Logistic regression (lbfgs)", "logreg_lbfgs", "logreg_lbfgs", "sklearn-lbfgs")
sk_goal("Logistic regression, 5 epochs (supplementary: Adam vs plain SGD)", "logreg", "sklearn-sgd", "SGDClassifier")
sk_goal("MLP", "mlp", "sklearn", "MLPClassifier")
sk_goal("k-means", "kmeans", "sklearn", "KMeans")
sk_goal("PCA", "pca", "sklearn", "PCA(10)")

e = wall("mlrepo", "mlp")
tt, tt1 = inproc("pytorch", "mlp", "fit_s"), inproc("pytorch-1t", "mlp", "fit_s")
if tt and e:
    best = min(x for x in (tt, tt1) if x)
    which = "%s threads" % THREADS if best == tt else "1 thread"
    ta, hi = train_alone("mlp"), train_alone_hi("mlp")
    goals.append(["MLP ≥ 1.5× PyTorch CPU at batch 256: mlrepo training alone vs PyTorch's fit at its faster thread count (%s)" % which,
                  "%s %s s vs %s s: **%s** (%s %s s: %s)" % (A_LBL, f(ta), f(best), r2(best, ta), H_LBL, f(hi), r2(best, hi)),
                  both(ta, hi, best, 1.5)])
    if t_pandas:
        goals.append(["same, mlrepo whole process vs pandas `read_csv` + PyTorch fit (%s)" % which,
                      "%s s vs %s s: **%s**" % (f(e), f(t_pandas + best), r2(t_pandas + best, e)), VERDICT((t_pandas + best) / e >= 1.5)])
    goals.append(["(strictest) same, mlrepo whole process vs PyTorch's fit alone (%s)" % which,
                  "%s s vs %s s: %s" % (f(e), f(best), r2(best, e)), VERDICT(best / e >= 1.5)])
acc_goal("MLP", "mlp", "mlp", "pytorch")
acc_goal("MLP", "mlp", "mlp", "sklearn")
acc_goal("Logistic regression (adam, 5 epochs)", "logreg", "logreg", "pytorch")

read_s = phase("parse", "read_s") if HAVE_PHASES else None
if t_pandas and read_s:
    goals.append(["CSV parse ≥ 2× pandas.read_csv MB/s: mlrepo's parse alone (`phases.read_s` of `mlrepo train pca1`, "
                  "in process) vs `read_csv` in process (the like-for-like pair)",
                  "%s vs %s MB/s: **%s**" % (f(MB / read_s, 0), f(MB / t_pandas, 0), r2(t_pandas, read_s)),
                  VERDICT(t_pandas / read_s >= 2)])
if t_pandas and ref_eval:
    pm, em = MB / t_pandas, MB / ref_eval
    goals.append(["CSV parse ≥ 2× pandas.read_csv MB/s: `mlrepo eval` (parse + projection, whole process) vs `read_csv` in process",
                  "%s vs %s MB/s: **%s**" % (f(em, 0), f(pm, 0), r2(em, pm)), VERDICT(em / pm >= 2)])
    if ref_parse:
        tm = MB / ref_parse
        goals.append(["(strictest) same, `mlrepo train pca1` (parse + column stats + PCA(1), whole process) vs `read_csv`",
                      "%s vs %s MB/s: %s" % (f(tm, 0), f(pm, 0), r2(tm, pm)), VERDICT(tm / pm >= 2)])

# GEMM: from bench/results/gemm.md (bench/gemm.sh), not measured by this run.
gemm_md = os.environ.get("GEMM_MD", "")
if gemm_md and os.path.exists(gemm_md):
    import re
    text = open(gemm_md).read()
    date = re.search(r"^- date: ([^(]*)", text, re.M)
    # The ratio table of every run in the file: "NxN*NxN ... best/np 1t best/np 2t" (9 numbers).
    sq = {}
    for line in text.splitlines():
        mm = re.match(r"^(\d+)x\1\*\1x\1\s+((?:[\d.]+\s+){7}[\d.]+)\s*$", line.strip())
        if mm:
            sq.setdefault(int(mm.group(1)), []).append(float(mm.group(2).split()[-1]))
    large = {n: v for n, v in sq.items() if n >= 1024}
    if large:
        parts = ["%d³: %s" % (n, " / ".join("%.2f" % x for x in v)) for n, v in sorted(large.items())]
        meds = [statistics.median(v) for v in large.values()]
        allv = [x for v in large.values() for x in v]
        verdict = "PASS" if min(meds) >= 0.6 else "FAIL"
        low = sum(1 for x in allv if x < 0.6)
        if verdict == "PASS" and low:
            verdict = "PASS on the median (%d of %d figures below 0.60)" % (low, len(allv))
        goals.append(["float32 GEMM ≥ 60%% of numpy (OpenBLAS) at 2 threads, large square shapes "
                      "([bench/results/gemm.md](gemm.md): %s, separate from this run)" % (date.group(1).strip() if date else "?"),
                      "ours / numpy at 2 threads, each run: %s; medians %s" % (
                          "; ".join(parts), ", ".join("%.2f" % statistics.median(v) for _, v in sorted(large.items()))), verdict])

if goals:
    p("## Goals")
    p("")
    p("The issue's goal: *faster than scikit-learn on every row (logistic regression, MLP, k-means, PCA) and ≥ 1.5× PyTorch "
      "CPU on the MLP at batch 256, with accuracy within 0.5 points; CSV parse ≥ 2× pandas.read_csv MB/s; float32 GEMM ≥ "
      "60% of numpy OpenBLAS at 2 threads*. Every training row is compared two like-for-like ways: mlrepo's training "
      "alone (see note 1) against the anchor's fit alone, and mlrepo's whole process against pandas "
      "`read_csv` + the anchor's fit (section 5); the *strictest* rows set mlrepo's whole process against the anchor's "
      "fit alone.")
    p("")
    p(table(["goal", "measured", "verdict"], goals))
    p("")
    if HAVE_PHASES:
        p("1. *fit_s* is measured by mlrepo itself and stored in the model's lineage record (`environment.phases`: "
          "`read_s` the CSV parse, `column_stats_s` the per-column statistics every model file stores, `fit_s` the "
          "trainer: standardization in place, upload, the fit and its training metrics). The anchors' fit does not "
          "standardize (the features are N(0,1) already), so *fit_s* leans slightly in their favour; *with column "
          "stats* counts the statistics as training as well.")
    else:
      p("1. mlrepo has no separate timer for training. *est.* = the row's lineage `duration_s` − the parse+PCA(1) row's "
      "(parse, column statistics, standardization, and PCA(1)'s covariance, which a trainer does not do: it leans in "
      "mlrepo's favour by that covariance, %.0f GFLOP). *conservative* = lineage − the whole `mlrepo eval` parse process "
      "(parse, standardization, projection; no column statistics): it charges the column statistics to training."
      % (2 * ROWS * 101 * 101 / 1e9))
    if not HAVE_PHASES:
      p("2. PCA's own work (covariance + eigen-decomposition) sits inside every parse+PCA(1) figure, so the estimate "
        "subtracts it from itself; the conservative figure also holds the column statistics.")
    p("")

# ---------------------------------------------------------------- where the time goes
p("## Where mlrepo's time goes")
p("")
lines = []
if HAVE_PHASES:
    prow = []
    for wl, name in (("parse", "pca1 (parse row)"), ("logreg_lbfgs", "logreg_lbfgs"), ("logreg", "logreg (adam)"),
                     ("mlp", "mlp"), ("kmeans", "kmeans"), ("pca", "pca10")):
        w, rd, cs, ft = wall("mlrepo", wl), phase(wl, "read_s"), phase(wl, "column_stats_s"), phase(wl, "fit_s")
        if None in (w, rd, cs, ft):
            continue
        prow.append([name, f(w), "%s (%s MB/s)" % (f(rd), f(MB / rd, 0)), f(cs), f(ft), f(w - rd - cs - ft),
                     "%.0f%%" % (100 * (rd + cs) / w)])
    if prow:
        p("Phases of each `mlrepo train` (medians of the lineage records' `environment.phases`; *rest* = whole process − "
          "the three phases: process start, writing the model file, metrics and lineage record):")
        p("")
        p(table(["stage", "whole process s", "read_s (CSV parse)", "column_stats_s", "fit_s", "rest s",
                 "parse + stats share"], prow))
        p("")
if d_parse and ref_eval and not HAVE_PHASES:
    lines.append("- **Every `mlrepo train` pays a fixed %.2f s** before the model sees a row (the parse+PCA(1) row's lineage "
                 "duration), while parsing the same CSV through the same parser (`mlrepo eval` of the PCA(1) model) takes "
                 "%.2f s for the whole process (%s MB/s, %s the speed of pandas' `read_csv`). The difference, about %.2f s, is "
                 "the per-column statistics every model file stores plus the covariance of PCA(1). The fixed %.2f s is %s "
                 "of the MLP run, %s of the Adam logistic regression run and %s of the L-BFGS one."
                 % (d_parse, ref_eval, f(MB / ref_eval, 0),
                    ratio(t_pandas, ref_eval) if t_pandas else "?",
                    d_parse - ref_eval, d_parse,
                    ("%.0f%%" % (100 * d_parse / dur("mlp"))) if dur("mlp") else "–",
                    ("%.0f%%" % (100 * d_parse / dur("logreg"))) if dur("logreg") else "–",
                    ("%.0f%%" % (100 * d_parse / dur("logreg_lbfgs"))) if dur("logreg_lbfgs") else "–"))
cl = []
for wl in ("parse", "logreg_lbfgs", "logreg", "mlp", "kmeans", "pca"):
    c = cores("mlrepo", wl)
    if c:
        cl.append("%s %.2f" % (wl, c))
if n_of("mlrepo-eval", "parse"):
    cl.append("eval-parse %.2f" % cores("mlrepo-eval", "parse"))
if cl:
    lines.append("- **Cores kept busy** by mlrepo with `--threads %s` ((user + sys) / wall, median): %s. Anything near 1 "
                 "means the run is mostly serial." % (THREADS, ", ".join(cl)))
for name, wl in (("logistic regression (Adam)", "logreg"), ("MLP", "mlp")):
    ta = train_alone(wl)
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
ta = train_alone("logreg_lbfgs")
it = iters_of("logreg_lbfgs")
t_sk = inproc("sklearn-lbfgs", "logreg_lbfgs", "fit_s")
if ta and ta > 0 and it:
    rs = ok("sklearn-lbfgs", "logreg_lbfgs")
    it_sk = rs[-1]["out"].get("iterations") if rs else None
    lines.append("- **Per L-BFGS iteration**: mlrepo %.3f s (%d iterations in %.2f s, %s)%s." % (
        ta / it, it, ta, A_LBL, ("; scikit-learn %.3f s (%d iterations in %.2f s)" % (t_sk / it_sk, it_sk, t_sk)) if t_sk and it_sk else ""))
p("\n".join(lines) if lines else "(needs the parse workload)")
p("")

PERF_GROUPS = [
    ("column statistics (`columnMoments`, `columnStats`: per-column sums, min/max, sampled deciles)", ("columnStats", "columnMoments", "_merge", "_stableSortImpl", "sort")),
    ("GEMM, A read in place (`kernelStridedA`: forward X·W of each minibatch and of the per-epoch full-pass loss; Δ·Wᵀ)", ("kernelStridedA",)),
    ("GEMM, packed (`AVX2Kernels.kernel`: Xᵀ·Δ weight gradients, PCA covariance) and `sgemm` driver/packing", ("AVX2Kernels.kernel(", "sgemm", "MicroKernel", "pack")),
    ("CSV parse (`DatasetChunk`, `DecimalParser`, `CSVScanner` line counting)", ("DatasetChunk", "DecimalParser", "CSVScanner")),
    ("Adam step", ("adamStep",)),
    ("memory copies (minibatch gathers, uploads)", ("memmove", "memcpy")),
    ("elementwise (bias, ReLU, softmax, column sums, exp/log)", ("addRowVector", "relu", "softmax", "columnSum", "expf", "log_fma", "Vec.")),
    ("standardization", ("standardization", "applyStandardization", "standardize")),
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
# ---------------------------------------------------------------- interference
measured = [(k, r) for k, v in runs.items() for r in v if not r["failed"] and r.get("others") is not None]
if measured:
    hit = [(k, r) for k, r in measured if disturbed(r)]
    p("## Other work on the machine during the runs")
    p("")
    p("For every run, train.sh reads the machine's busy time from `/proc/stat` before and after and subtracts the "
      "run's own user + sys time: what remains, over the wall time, is the number of cores that other processes kept "
      "busy meanwhile (steal time, the hypervisor's share, is counted apart). %d of %d runs shared the machine with "
      "≥ %.2f cores of other work (listed here); they count in a row's figures only when the row has no undisturbed run (†). "
      "Thread pools that wait for every thread at each step (OpenBLAS in scikit-learn's MLP and k-means, PyTorch's "
      "OpenMP) lose far more than the share of the cores taken." % (len(hit), len(measured), DISTURB))
    p("")
    if hit:
        rows = []
        for (tool, wl), r in sorted(hit, key=lambda kr: (kr[0][1], kr[0][0], kr[1]["rep"])):
            t = r["out"].get("fit_s") or r["out"].get("parse_s") if tool != "mlrepo" and tool != "mlrepo-eval" else None
            rows.append([wl, tool, r["rep"], f(r["wall"]), f(t) if t else "–", "%.2f" % r["others"],
                         "%.2f" % r["steal"] if r.get("steal") is not None else "–"])
        p(table(["workload", "tool", "rep", "process wall s", "timed step s", "other processes, cores", "steal, cores"], rows))
        p("")
    mx = max(r["others"] for _, r in measured)
    p("Over all %d runs: other processes kept %.2f cores busy on average (max %.2f); steal %.2f cores on average."
      % (len(measured), statistics.mean(r["others"] for _, r in measured), mx,
         statistics.mean((r.get("steal") or 0) for _, r in measured)))
    p("")
failed = sorted({"%s %s" % k for k, v in runs.items() if any(r["failed"] for r in v)})
if failed:
    p("Failed or timed-out runs (left out of the medians): %s; see run.log in the work folder." % ", ".join(failed))
    p("")
print("\n".join(P))
