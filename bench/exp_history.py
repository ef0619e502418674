#!/usr/bin/env python3
"""Builds the ML history used by bench/exp_show.sh, twice from the same files.

usage: exp_history.py --mlrepo BIN --ml-repo DIR --git-repo DIR --commits N
                      [--repro-every K] [--checkpoints "1000 2500 5000"] [--checkpoint-cmd CMD]
                      [--timings FILE]

mlrepo (DIR --ml-repo): `mlrepo init`, then N commits. Commit i writes params.json
(train.lr, distinct per commit), writes the model.bin (4 KiB) and metrics.json that the
stage command `sh train.sh` writes for that lr (the same bytes, computed here to save a
process start; compared with train.sh's output at every repro) and commits those three
files with `mlrepo add` + `mlrepo commit`. Every K-th commit (i % K == 1, so the first
commit too) runs `mlrepo repro` instead (it runs train.sh), so lineage records exist. Commit i has
author/committer time T0 + 60*i (MLREPO_AUTHOR_DATE). MLREPO_FSYNC=0 is exported by the
caller.

git + DVC (DIR --git-repo): `git init` + `dvc init` (commit "dvc init"), commit 1 made
for real with `dvc repro` + `git commit`, commits 2..N with `git fast-import` from the
files the mlrepo run produced: params.json, metrics.json (cache: false, in git), dvc.lock
(md5s of train.sh, metrics.json, model.bin and the train.lr value, in the layout of the
real dvc.lock of commit 1, which is checked byte for byte), dvc.yaml, train.sh and
.gitignore; model.bin goes into .dvc/cache/files/md5/. The commit objects are the ones
`git commit` would write (same trees, same times); fast-import only saves 2 x N process
starts. The caller checks `dvc status` at HEAD.

At each checkpoint commit count the shell command --checkpoint-cmd is run with
CHECKPOINT=<count> in the environment (the caller times the history commands there).
--timings gets "commits_done, seconds for the block, commits in it whose mlrepo calls
(add or repro, + commit) took over 100 ms, their seconds, the slowest" lines (tab-separated).
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time

T0 = 1_700_000_000

TRAIN_SH = r"""# toy trainer: reads train.lr from params.json, writes model.bin (4 KiB) and metrics.json
awk -F'"lr": ' 'NF > 1 { split($2, a, /[,}]/); lr = a[1] + 0 }
END {
  acc = 0.99 - 400 * (lr - 0.005) ^ 2; loss = 0.05 + 300 * (lr - 0.005) ^ 2
  printf "{\"acc\": %.6f, \"loss\": %.6f}\n", acc, loss > "metrics.json"
  for (i = 0; i < 64; i++) printf "%063.0f\n", (lr * 1e9 + i) * 7919 > "model.bin"
}' params.json
"""

MLREPO_JSON = ('{"stages": {"train": {"cmd": "sh train.sh", "deps": ["train.sh"], '
               '"params": ["train.lr"], "outs": ["model.bin"], "metrics": ["metrics.json"]}}}\n')

DVC_YAML = """stages:
  train:
    cmd: sh train.sh
    deps:
    - train.sh
    params:
    - params.json:
      - train.lr
    outs:
    - model.bin
    metrics:
    - metrics.json:
        cache: false
"""

DVC_LOCK = """schema: '2.0'
stages:
  train:
    cmd: sh train.sh
    deps:
    - path: train.sh
      hash: md5
      md5: {train_md5}
      size: {train_size}
    params:
      params.json:
        train.lr: {lr}
    outs:
    - path: metrics.json
      hash: md5
      md5: {metrics_md5}
      size: {metrics_size}
    - path: model.bin
      hash: md5
      md5: {model_md5}
      size: {model_size}
"""


def lr_of(i):
    # 10,000 distinct values in [0.0001, 0.0101) for i = 1..10,000 (7919 is prime).
    return "%.6f" % (0.0001 + ((i * 7919) % 10000) * 1e-6)


def train_outputs(lr):
    """The bytes `sh train.sh` writes for this lr (checked against it at every repro)."""
    x = float(lr)
    d = (x - 0.005) * (x - 0.005)
    metrics = '{"acc": %.6f, "loss": %.6f}\n' % (0.99 - 400 * d, 0.05 + 300 * d)
    model = "".join("%063.0f\n" % ((x * 1e9 + i) * 7919) for i in range(64))
    return metrics.encode(), model.encode()


def run(cmd, cwd, env=None, quiet=True):
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE if quiet else None,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write("exp_history: %s failed (%d) in %s:\n%s%s" % (
            " ".join(cmd), r.returncode, cwd, (r.stdout or b"").decode(errors="replace"),
            r.stderr.decode(errors="replace")))
        sys.exit(1)
    return r


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def lock_text(ml, lr):
    files = {n: read(os.path.join(ml, n)) for n in ("train.sh", "metrics.json", "model.bin")}
    md5 = {n: hashlib.md5(b).hexdigest() for n, b in files.items()}
    return DVC_LOCK.format(
        train_md5=md5["train.sh"], train_size=len(files["train.sh"]),
        lr=repr(float(lr)),
        metrics_md5=md5["metrics.json"], metrics_size=len(files["metrics.json"]),
        model_md5=md5["model.bin"], model_size=len(files["model.bin"])), files, md5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mlrepo", required=True)
    ap.add_argument("--ml-repo", required=True)
    ap.add_argument("--git-repo", required=True)
    ap.add_argument("--commits", type=int, required=True)
    ap.add_argument("--repro-every", type=int, default=100)
    ap.add_argument("--checkpoints", default="")
    ap.add_argument("--checkpoint-cmd", default="")
    ap.add_argument("--timings", default="")
    a = ap.parse_args()
    n, ml, gr, mb = a.commits, a.ml_repo, a.git_repo, a.mlrepo
    checkpoints = {int(x) for x in a.checkpoints.split()}
    env = dict(os.environ)

    for d in (ml, gr):
        os.makedirs(d, exist_ok=True)
    write(os.path.join(ml, "train.sh"), TRAIN_SH)
    write(os.path.join(ml, "mlrepo.json"), MLREPO_JSON)
    run([mb, "init", "."], ml)

    # git + DVC repo: init commit, then commit 1 for real with dvc repro.
    genv = dict(env, GIT_AUTHOR_DATE="@%d +0000" % T0, GIT_COMMITTER_DATE="@%d +0000" % T0)
    run(["git", "init", "-q", "-b", "main", "."], gr)
    for k, v in (("gc.auto", "0"), ("maintenance.auto", "false")):
        run(["git", "config", k, v], gr)
    run(["dvc", "init", "-q"], gr)
    run(["dvc", "config", "core.analytics", "false"], gr)
    run(["git", "add", "-A"], gr)
    run(["git", "commit", "-q", "-m", "dvc init"], gr, genv)

    stream = open(os.path.join(gr, ".git", "bench-fast-import"), "wb")
    cache = os.path.join(gr, ".dvc", "cache", "files", "md5")
    timings = open(a.timings, "w") if a.timings else None
    block_start = time.perf_counter()
    slow_n, slow_s, slow_max = 0, 0.0, 0.0
    for i in range(1, n + 1):
        lr = lr_of(i)
        t = T0 + 60 * i
        write(os.path.join(ml, "params.json"), '{"train": {"lr": %s, "epochs": 10}}\n' % lr)
        menv = dict(env, MLREPO_AUTHOR_DATE=str(t))
        msg = "exp %d: lr %s" % (i, lr)
        want_metrics, want_model = train_outputs(lr)
        c0 = time.perf_counter()
        if i % a.repro_every == 1 or a.repro_every == 1:
            run([mb, "repro"], ml, menv)
            if (read(os.path.join(ml, "metrics.json")), read(os.path.join(ml, "model.bin"))) != (want_metrics, want_model):
                sys.exit("exp_history: commit %d: train.sh wrote other bytes than train_outputs()" % i)
        else:
            # What `sh train.sh` writes, without its process start (checked at every repro).
            with open(os.path.join(ml, "metrics.json"), "wb") as f:
                f.write(want_metrics)
            with open(os.path.join(ml, "model.bin"), "wb") as f:
                f.write(want_model)
            run([mb, "add", "params.json", "metrics.json", "model.bin"], ml, menv)
        run([mb, "commit", "-m", msg], ml, menv)
        dt = time.perf_counter() - c0  # mlrepo repro or add, + commit
        slow_max = max(slow_max, dt)
        if dt > 0.1:
            slow_n += 1
            slow_s += dt

        lock, files, md5 = lock_text(ml, lr)
        cpath = os.path.join(cache, md5["model.bin"][:2], md5["model.bin"][2:])
        os.makedirs(os.path.dirname(cpath), exist_ok=True)
        with open(cpath, "wb") as f:
            f.write(files["model.bin"])
        if i == 1:
            for name in ("train.sh", "params.json"):
                shutil.copy(os.path.join(ml, name), os.path.join(gr, name))
            write(os.path.join(gr, "dvc.yaml"), DVC_YAML)
            run(["dvc", "repro", "-q"], gr)
            real = read(os.path.join(gr, "dvc.lock")).decode()
            if real != lock:
                sys.stderr.write("exp_history: generated dvc.lock differs from dvc repro's:\n--- dvc repro\n%s--- generated\n%s" % (real, lock))
                sys.exit(1)
            for name in ("metrics.json", "model.bin"):
                if read(os.path.join(gr, name)) != files[name]:
                    sys.exit("exp_history: dvc repro wrote a different %s than the mlrepo side" % name)
            run(["git", "add", "-A"], gr)
            run(["git", "commit", "-q", "-m", msg], gr,
                dict(env, GIT_AUTHOR_DATE="@%d +0000" % t, GIT_COMMITTER_DATE="@%d +0000" % t))
        else:
            out = [b"commit refs/heads/main\n",
                   b"author bench <bench@example.com> %d +0000\n" % t,
                   b"committer bench <bench@example.com> %d +0000\n" % t,
                   b"data %d\n%s\n" % (len(msg.encode()), msg.encode())]
            if i == 2:
                out.append(b"from refs/heads/main^0\n")
            blobs = {"params.json": read(os.path.join(ml, "params.json")),
                     "metrics.json": files["metrics.json"], "dvc.lock": lock.encode()}
            for name, data in blobs.items():
                out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data))
            stream.write(b"".join(out))

        if i % 1000 == 0 or i == n:
            now = time.perf_counter()
            if timings:
                timings.write("%d\t%.3f\t%d\t%.3f\t%.3f\n" % (i, now - block_start, slow_n, slow_s, slow_max))
                timings.flush()
            sys.stderr.write("  %d commits\n" % i)
            block_start = now
            slow_n, slow_s, slow_max = 0, 0.0, 0.0
        if i in checkpoints and a.checkpoint_cmd:
            c0 = time.perf_counter()
            subprocess.run(["bash", "-c", a.checkpoint_cmd], env=dict(env, CHECKPOINT=str(i)), check=True)
            block_start += time.perf_counter() - c0  # checkpoint time is not build time
    stream.close()
    with open(os.path.join(gr, ".git", "bench-fast-import"), "rb") as f:
        subprocess.run(["git", "fast-import", "--quiet"], cwd=gr, stdin=f, check=True)
    os.remove(os.path.join(gr, ".git", "bench-fast-import"))
    run(["git", "reset", "-q", "--hard", "main"], gr)
    run(["dvc", "checkout", "-q"], gr)


if __name__ == "__main__":
    main()
