#!/usr/bin/env python3
"""Markdown report for bench/exp_show.sh: exp_report.py RESULTS.tsv META.tsv BUILD.tsv"""
import statistics
import sys
from collections import defaultdict

res = defaultdict(list)
for line in open(sys.argv[1]):
    tool, metric, rep, value = line.rstrip("\n").split("\t")
    res[(tool, metric)].append(float(value))
meta = {}
for line in open(sys.argv[2]):
    k, v = line.rstrip("\n").split("\t", 1)
    meta[k] = v
build = [tuple(float(x) for x in l.split("\t")) for l in open(sys.argv[3]) if l.strip()]
params = dict(kv.split("=") for kv in meta["params"].split())
N, M, R, K = int(params["commits"]), int(params["dvc_commits"]), int(params["reps"]), int(params["repro_every"])
cps = [int(c) for c in meta.get("checkpoints", "").split()]


def med(tool, metric):
    v = res.get((tool, metric))
    return statistics.median(v) if v else None


def fs(s):
    if s is None:
        return "n/a"
    if s < 1:
        return "%.1f ms" % (s * 1000)
    return "%.2f s" % s


def fus(s):
    if s is None:
        return "n/a"
    us = s * 1e6
    return "%.1f µs" % us if us < 1000 else "%.2f ms" % (us / 1000)


def fmem(tool, metric):
    v = med(tool, metric + "_rss_kb")
    return "n/a" if v is None else "%.1f MiB" % (v / 1024)


def fratio(x):
    return "n/a" if x is None else ("%.2fx" % x if x < 100 else "%.0fx" % x)


out = []
p = out.append
p("# mlrepo ML-history commands vs DVC and git")
p("")
p("Written by `bench/exp_show.sh` (history built by `bench/exp_history.py`).")
p("")
p("- date: %s" % meta.get("date"))
p("- host: %s; scratch fs: %s" % (meta.get("host"), meta.get("fs")))
p("- parameters: %s" % meta["params"])
p("- versions: mlrepo: %s; DVC: %s; git: %s" % (meta.get("version_mlrepo"), meta.get("version_dvc"), meta.get("version_git")))
p("- load average before / after: %s / %s; during: %s" % (meta.get("load_before"), meta.get("load_after"), meta.get("load_during", "n/a")))
p("- history build: %s s for both repos; mlrepo: %s commits, store %s B; git+DVC: %s commits, %s B"
  % (meta.get("build_s"), meta.get("ml_commits"), meta.get("ml_store"), meta.get("git_commits"), meta.get("git_store")))
p("- lineage records in the mlrepo history: %s" % meta.get("ml_records"))
p("- checks: %s" % meta.get("checks"))
p("")
p("**History.** Both repos hold the same %d commits. Commit i sets `train.lr` in params.json to a distinct value, "
  "and the stage command `sh train.sh` (awk) writes model.bin (4 KiB) and metrics.json (acc, loss) from it. "
  "mlrepo: `mlrepo.json` declares the stage (deps train.sh, params train.lr, outs model.bin, metrics metrics.json); "
  "every %dth commit runs `mlrepo repro` (a lineage record); the others write the bytes `sh train.sh` would "
  "(computed by the driver, checked against train.sh at every repro) and run "
  "`mlrepo add params.json metrics.json model.bin`; then `mlrepo commit -m`. **MLREPO_FSYNC=0 while building** "
  "(and while measuring; the measured commands only read). git+DVC: the same stage in dvc.yaml "
  "(params.json:train.lr, metrics.json with cache: false), commit 1 by `dvc repro` + `git commit`, "
  "commits 2..N with `git fast-import` from the files of the mlrepo run (params.json, metrics.json and the dvc.lock "
  "with their md5s, model.bin in .dvc/cache): the same commits `git commit` would write, without 2N process starts. "
  "Commit times are one minute apart in both." % (N, K))
p("")
p("**Timing.** Each command runs %d times (`bash -c` under GNU time, wall clock from `date +%%s%%N`, "
  "output to a file); the table gives the median and the median peak RSS. "
  "DVC's `exp show` reads commits through `-n M`: a cold run costs ~40 ms a commit, so it reads M = %d of the "
  "%d commits; where the two N differ, the ratio compares the time **per commit** (time / rows), "
  "otherwise whole times. DVC's first `exp show` collects every commit and writes `.dvc/tmp/exps/cache` "
  "(cold, one run); later runs read that cache (warm)." % (R, M, N))
p("")

rows = []
def row(what, mcmd, mn, mkey, acmd, an, akey, note="", mtool="mlrepo"):
    mt, at = med(mtool, mkey), med(akey[0], akey[1])
    if mt is None or at is None:
        ratio = None
    elif mn != an:
        ratio = (at / an) / (mt / mn)
    else:
        ratio = at / mt
    pc = "%s / %s" % (fus(mt / mn), fus(at / an)) if mn != an and mt and at else ""
    rows.append("| %s | `%s` | %s | %s | %s | `%s` | %s | %s | %s | **%s**%s | %s |" % (
        what, mcmd, "{:,}".format(mn), fs(mt), fmem(mtool, mkey), acmd, "{:,}".format(an), fs(at), fmem(*akey),
        fratio(ratio), " per commit" if mn != an else "", pc + (("; " if pc else "") + note if note else "")))

row("exp show, JSON", "mlrepo exp show -n %d --json" % N, N, "exp_show_json_n",
    "dvc exp show -n %d --json" % M, M, ("dvc", "exp_show_json"), "DVC warm (exp cache)")
row("exp show, JSON", "mlrepo exp show -n %d --json" % N, N, "exp_show_json_n",
    "dvc exp show -n %d --json" % M, M, ("dvc", "exp_show_json_cold"), "DVC cold (first run, 1 rep)")
row("exp show, JSON", "mlrepo exp show -n %d --json" % M, M, "exp_show_json_m",
    "dvc exp show -n %d --json" % M, M, ("dvc", "exp_show_json"), "equal N; DVC warm")
row("exp show, JSON", "mlrepo exp show -n %d --json" % M, M, "exp_show_json_m",
    "dvc exp show -n %d --json" % M, M, ("dvc", "exp_show_json_cold"), "equal N; DVC cold")
row("exp show vs git floor", "mlrepo exp show -n %d --json" % N, N, "exp_show_json_n",
    "git log --format=%%H -n %d" % N, N, ("git", "log_floor_n"), "floor: the commit walk alone")
row("exp show, sorted table", "mlrepo exp show --sort-by acc", N, "exp_show_sort_acc",
    "dvc exp show -n %d --sort-by acc" % M, M, ("dvc", "exp_show_sort_acc"),
    "DVC warm; DVC sorts experiments within each commit, not the commits")
if M in cps:
    row("exp show, sorted table", "mlrepo exp show --sort-by acc", M, "cp%d:exp_show_sort_acc" % M,
        "dvc exp show -n %d --sort-by acc" % M, M, ("dvc", "exp_show_sort_acc"),
        "equal N: mlrepo timed when its history held %d commits" % M)
row("metrics diff", "mlrepo metrics diff HEAD~100 HEAD --json", N, "metrics_diff",
    "dvc metrics diff HEAD~100 HEAD --json", N, ("dvc", "metrics_diff"))
row("model history", "mlrepo log --kind model -n 100", N, "log_kind_model",
    "git log -n 100 -- dvc.lock", N, ("git", "log_dvc_lock"), "DVC repo: the model's hash lives in dvc.lock")
row("downstream lineage", "mlrepo lineage model.bin --downstream", N, "lineage_model_down",
    "git rev-list --all --header", N, ("git", "rev_list_all"),
    "no DVC equivalent; floor: read every commit object (an empty answer: model.bin feeds no stage)")
row("downstream lineage", "mlrepo lineage train.sh --downstream", N, "lineage_train_down",
    "git rev-list --all --header", N, ("git", "rev_list_all"),
    "extra: a non-empty answer (every recorded run read train.sh)")

p("## Figures at %s commits" % "{:,}".format(N))
p("")
p("| what | mlrepo | N | time | peak RSS | anchor | N | time | peak RSS | anchor / mlrepo | per commit mlrepo / anchor; note |")
p("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
out.extend(rows)
p("")
p("Reference: `dvc dag` (DVC's only lineage view: the current pipeline, no history) %s; `mlrepo status` %s."
  % (fs(med("dvc", "dag")), fs(med("mlrepo", "status"))))
p("")

# Scaling
names = [("exp_show_json_all", "exp show --json (all commits)"),
         ("exp_show_sort_acc", "exp show --sort-by acc"),
         ("metrics_diff", "metrics diff HEAD~100 HEAD --json"),
         ("log_kind_model", "log --kind model -n 100"),
         ("log_kind_model_1", "log --kind model -n 1"),
         ("log_n100", "log -n 100 (control: plain log)"),
         ("lineage_model_down", "lineage model.bin --downstream"),
         ("lineage_train_down", "lineage train.sh --downstream"),
         ("status", "status (control: independent of history)")]
pts = cps + [N]
p("## mlrepo: time against history length")
p("")
p("The same commands timed while the history was being built (medians of %d). "
  "Last column: time growth from %s to %s commits divided by the history growth (%.1fx); "
  "1.0 = linear, below 1 = a fixed cost dominates, above 1 = worse than linear."
  % (R, "{:,}".format(pts[0]), "{:,}".format(N), N / pts[0]))
p("")
p("| command | " + " | ".join("{:,} commits".format(c) for c in pts) + " | per commit at %s | growth / history growth |" % "{:,}".format(N))
p("|---|" + "---:|" * (len(pts) + 2))
for key, label in names:
    ts = [med("mlrepo", ("cp%d:" % c if c != N else "") + key) for c in pts]
    g = (ts[-1] / ts[0]) / (N / pts[0]) if ts[0] and ts[-1] else None
    p("| %s | %s | %s | %s |" % (label, " | ".join(fs(t) for t in ts), fus(ts[-1] / N) if ts[-1] else "n/a",
                                  "n/a" if g is None else "%.2f" % g))
p("")

# Build cost
if build:
    p("## History building cost (mlrepo side)")
    p("")
    p("Seconds per block of 1,000 commits (writing the files + `mlrepo add` + `mlrepo commit`, a `repro` every %dth; "
      "includes the Python driver, the md5s and cache copies of the DVC mirror; checkpoint timings excluded; "
      "the first block also holds `dvc init` and one `dvc repro`)." % K)
    p("")
    p("Slow commits: add (or repro) + commit over 100 ms. They are mlrepo's automatic repack "
      "(`Repository.autoRepack`), which merges small packs geometrically (git's --geometric=2 rule), "
      "so the large pack is rewritten only once the small ones have grown to its size; a flat "
      "ms / commit column shows the cost does not grow with the history.")
    p("")
    p("| commits done | block | ms / commit | slow commits | time in slow commits | slowest |")
    p("|---:|---:|---:|---:|---:|---:|")
    prev = 0
    for done, secs, sn, ss, smax in build:
        p("| {:,} | {:.1f} s | {:.1f} | {:d} | {:.1f} s | {} |".format(int(done), secs, 1000 * secs / (done - prev),
                                                                    int(sn), ss, fs(smax)))
        prev = done
    p("")
print("\n".join(out))
