#!/usr/bin/env python3
"""Turn bench/run.sh raw results (results.tsv, meta.tsv) into a Markdown report.

results.tsv: tool <TAB> metric <TAB> rep <TAB> value   (one line per measurement)
meta.tsv:    key <TAB> value

Every figure is the median over the repetitions (W4: over both switch
directions of every repetition).  Ratios are "tool / mlrepo" for the same
metric, so for times a ratio of 3.6x means mlrepo is 3.6 times faster.
"""
import statistics
import sys
from collections import defaultdict

TOOLS_ORDER = ["mlrepo", "mlrepo-nofsync", "git", "git-lfs", "dvc", "oxen"]
NAMES = {"mlrepo": "mlrepo", "mlrepo-nofsync": "mlrepo (fsync off)", "git": "git", "git-lfs": "git-lfs", "dvc": "DVC", "oxen": "Oxen"}
MB = 1_000_000
MIB = 1 << 20


def load(results_path, meta_path):
    vals = defaultdict(list)
    with open(results_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            tool, metric, _rep, v = parts
            try:
                vals[(tool, metric)].append(float(v))
            except ValueError:
                pass
    meta = {}
    with open(meta_path) as f:
        for line in f:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                meta[k] = v
    return vals, meta


def main():
    vals, meta = load(sys.argv[1], sys.argv[2])
    tools = [t for t in TOOLS_ORDER if any(k[0] == t for k in vals)]

    def med(tool, metric):
        v = vals.get((tool, metric))
        return statistics.median(v) if v else None

    def n(tool, metric):
        return len(vals.get((tool, metric), []))

    def fs(x, unit="s"):
        if x is None:
            return "–"
        if unit == "s":
            return f"{x:.3f} s" if x < 10 else f"{x:.2f} s"
        if unit == "ms":
            return f"{x * 1000:.1f} ms"
        if unit == "mib":
            return f"{x / MIB:,.1f} MiB"
        if unit == "rss":   # KiB -> MiB
            return f"{x / 1024:,.1f} MiB"
        if unit == "pct":
            return f"{x:.1f}%"
        return str(x)

    def ratio(tool, metric):
        a, b = med(tool, metric), med("mlrepo", metric)
        if tool == "mlrepo" or a is None or b is None:
            return "–" if tool != "mlrepo" else "1.0x"
        if b == 0:
            return "∞"
        return f"{NAMES[tool]}/mlrepo = {a / b:.2f}x"

    out = []
    p = out.append
    p("# mlrepo benchmark results\n")
    p(f"- date: {meta.get('date', '?')}")
    p(f"- host: {meta.get('host', '?')}; scratch fs: {meta.get('fs', '?')}")
    p(f"- parameters: {meta.get('params', '?')}")
    p(f"- data: {meta.get('data', '?')}")
    if "sha256_openssl_mib_s" in meta or "sha256_hashlib_mib_s" in meta:
        p(f"- hardware reference: single-core SHA-256 {meta.get('sha256_openssl_mib_s', '?')} MiB/s "
          f"(openssl speed -evp sha256, 16 KiB blocks), {meta.get('sha256_hashlib_mib_s', '?')} MiB/s "
          f"(python hashlib, 64 MiB buffer); disk write: {meta.get('disk_write', '?')}")
    p(f"- load average before / after: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}; "
      f"during: {meta.get('load_during', '?')}")
    p("- caches: no cache dropping; the input file is copied into the fresh repo (untimed) and "
      "`sync`ed before each timed step, so the tools read it from the page cache.")
    p("- versions:")
    for t in tools:
        p(f"  - {NAMES[t]}: {meta.get('version_' + t, '?')}")
    for k in sorted(k for k in meta if k.startswith("note")):
        p(f"- note: {meta[k]}")
    if "failed" in meta:
        p(f"- **failed runs** (see run.log): {meta['failed']}")
    if "mlrepo" not in tools:
        p("- **mlrepo was not benchmarked** (binary absent): ratios and goals are n/a.")
    p("")

    def reps_note(metric):
        return ", ".join(f"{NAMES[t]} {n(t, metric)}" for t in tools if n(t, metric))

    # ---- W1
    if any(med(t, "w1_s") is not None for t in tools):
        p("## W1: add+commit a fresh ~%s CSV\n" % fs(med(tools[0], "file_v1_b") or 0, "mib"))
        p("| tool | add+commit | vs mlrepo | add | commit | peak RSS add / commit | store size | store vs DVC cache |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|")
        dvc_store = med("dvc", "w1_store_b")
        for t in tools:
            if med(t, "w1_s") is None:
                continue
            st = med(t, "w1_store_b")
            rel = f"{st / dvc_store:.2f}x" if dvc_store and st is not None else "–"
            p(f"| {NAMES[t]} | {fs(med(t, 'w1_s'))} | {ratio(t, 'w1_s')} | {fs(med(t, 'w1_add_s'))} | "
              f"{fs(med(t, 'w1_commit_s'))} | {fs(med(t, 'w1_add_rss_kb'), 'rss')} / "
              f"{fs(med(t, 'w1_commit_rss_kb'), 'rss')} | {fs(st, 'mib')} | {rel} |")
        p(f"\nRepetitions: {reps_note('w1_s')}. Store = `du -sb` of .mlrepo / .git / .dvc/cache / .oxen.\n")

    # ---- W2
    if any(med(t, "w2_s") is not None for t in tools):
        p("## W2: replace with v2 (+1% rows appended, 0.1% rows relabelled), add+commit\n")
        p("| tool | add+commit | vs mlrepo | store growth | growth / file size | vs mlrepo growth | peak RSS |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        for t in tools:
            if med(t, "w2_s") is None:
                continue
            g, fsz = med(t, "w2_growth_b"), med(t, "file_v2_b")
            pct = 100 * g / fsz if g is not None and fsz else None
            p(f"| {NAMES[t]} | {fs(med(t, 'w2_s'))} | {ratio(t, 'w2_s')} | {fs(g, 'mib')} | {fs(pct, 'pct')} | "
              f"{ratio(t, 'w2_growth_b')} | {fs(med(t, 'w2_rss_kb'), 'rss')} |")
        p("")

    # ---- W3
    if any(med(t, "w3_s") is not None for t in tools):
        p("## W3: many small files, add+commit, then status with nothing changed\n")
        p("| tool | add+commit | vs mlrepo | peak RSS | store size | status (median) | vs mlrepo |")
        p("|---|---:|---:|---:|---:|---:|---:|")
        for t in tools:
            if med(t, "w3_s") is None:
                continue
            p(f"| {NAMES[t]} | {fs(med(t, 'w3_s'))} | {ratio(t, 'w3_s')} | {fs(med(t, 'w3_rss_kb'), 'rss')} | "
              f"{fs(med(t, 'w3_store_b'), 'mib')} | {fs(med(t, 'w3_status_s'), 'ms')} | {ratio(t, 'w3_status_s')} |")
        p("\nStatus: `hyperfine -N --warmup 1`, median of the runs, then median over repetitions "
          "(git: `git status`, DVC: `dvc status`, Oxen: status via the binding). "
          "git-lfs tracks `*.bin` here, i.e. all W3 files.\n")

    # ---- W4
    if any(med(t, "w4_s") is not None for t in tools):
        p("## W4: checkout switch between the two CSV versions\n")
        p("| tool | switch (median) | vs mlrepo | v2→v1 | v1→v2 |")
        p("|---|---:|---:|---:|---:|")
        for t in tools:
            if med(t, "w4_s") is None:
                continue
            p(f"| {NAMES[t]} | {fs(med(t, 'w4_s'))} | {ratio(t, 'w4_s')} | {fs(med(t, 'w4_to_v1_s'))} | "
              f"{fs(med(t, 'w4_to_v2_s'))} |")
        p("\nmlrepo: `mlrepo checkout <commit id>`; git/git-lfs: `git checkout <tag>`; "
          "DVC: `git checkout <tag> && dvc checkout`; Oxen: branch checkout (main / v2).\n")

    if any(t == "oxen" for t in tools):
        p("Oxen note: the oxenai PyPI package has no `oxen` executable; it is driven through "
          "`bench/oxen_cli.py`, which loads the compiled Rust binding directly. Its times include "
          f"starting python3 and loading the binding ({meta.get('oxen_startup', '?')}), which "
          "matters only for `status`.\n")

    # ---- goals, for mlrepo with its default settings and with fsync off
    subjects = [t for t in ["mlrepo", "mlrepo-nofsync"] if t in tools] or ["mlrepo"]
    results = {}
    for subject in subjects:
        m = lambda metric, subject=subject: med(subject, metric)  # noqa: E731
        goals = []

        def goal(name, measured, ok):
            if ok is None:
                goals.append((name, measured, "n/a"))
            else:
                goals.append((name, measured, "PASS" if ok else "FAIL"))

        def speedup_goal(name, tool, metric, factor):
            a, b = med(tool, metric), m(metric)
            if a is None or b is None or b == 0:
                goal(name, "–", None)
            else:
                goal(name, f"{a / b:.2f}x", a / b >= factor)

        speedup_goal("W1 add+commit ≥ 2.5x faster than Oxen", "oxen", "w1_s", 2.5)
        speedup_goal("W1 add+commit ≥ 3.5x faster than DVC", "dvc", "w1_s", 3.5)
        ra, rc = m("w1_add_rss_kb"), m("w1_commit_rss_kb")
        if ra is None:
            goal("W1 peak memory < 100 MB", "–", None)
        else:
            peak = max(ra, rc or 0) * 1024
            goal("W1 peak memory < 100 MB", f"{peak / MB:.1f} MB (max of add, commit)", peak < 100 * MB)
        sm, sd = m("w1_store_b"), med("dvc", "w1_store_b")
        if sm is None or sd is None:
            goal("W1 store no larger than DVC's cache", "–", None)
        else:
            goal("W1 store no larger than DVC's cache", f"{sm / MIB:,.1f} MiB vs {sd / MIB:,.1f} MiB", sm <= sd)
        g, fsz = m("w2_growth_b"), m("file_v2_b")
        if g is None or not fsz:
            goal("W2 store growth ≤ 20% of file size", "–", None)
        else:
            goal("W2 store growth ≤ 20% of file size", f"{100 * g / fsz:.2f}%", g <= 0.20 * fsz)
        speedup_goal("W3 add+commit ≥ 5x faster than git", "git", "w3_s", 5)
        a, b = m("w3_status_s"), med("git", "w3_status_s")
        if a is None or b is None:
            goal("W3 status no slower than git status", "–", None)
        else:
            goal("W3 status no slower than git status", f"{a * 1000:.1f} ms vs {b * 1000:.1f} ms", a <= b)
        speedup_goal("W3 status ≥ 10x faster than dvc status", "dvc", "w3_status_s", 10)
        a, b = m("w4_s"), med("dvc", "w4_s")
        if a is None or b is None or b == 0:
            goal("W4 checkout ≤ 0.6x DVC's time", "–", None)
        else:
            goal("W4 checkout ≤ 0.6x DVC's time", f"{a / b:.3f}x", a <= 0.6 * b)


        results[subject] = goals

    p("## Goals\n")
    p("| goal | " + " | ".join(NAMES[t] for t in subjects) + " |")
    p("|---|" + "---|" * len(subjects))
    names = [g[0] for g in results[subjects[0]]]
    for i, name in enumerate(names):
        cells = [f"{results[t][i][1]} **{results[t][i][2]}**" for t in subjects]
        p(f"| {name} | " + " | ".join(cells) + " |")
    for t in subjects:
        gs = results[t]
        p(f"\n{NAMES[t]}: {sum(1 for g in gs if g[2] == 'PASS')} PASS, "
          f"{sum(1 for g in gs if g[2] == 'FAIL')} FAIL, {sum(1 for g in gs if g[2] == 'n/a')} n/a")
    print("\n".join(out))


if __name__ == "__main__":
    main()
