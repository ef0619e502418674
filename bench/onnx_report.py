#!/usr/bin/env python3
"""Markdown report of bench/onnx_serve.sh from its results.jsonl (one JSON object a line)."""
import json
import sys


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    meta = next(r for r in rows if r["kind"] == "meta")
    out = ["# ONNX models: mlrepo against onnxruntime and MLflow", "",
           "Made by `bench/onnx_serve.sh` on %s: %s; mlrepo %s (commit %s), onnxruntime %s, MLflow %s "
           "(`mlflow models serve --env-manager local`, onnx flavor, default single worker). Models: "
           "LightGBM 100 trees (onnxmltools), PyTorch MLP 100→128→2 (torch.onnx.export). "
           "The load generator (wrk) shares the machine with the server." %
           (meta["date"], meta["host"], meta["mlrepo"], meta["commit"], meta["onnxruntime"], meta["mlflow"]), ""]

    out += ["## Model execution alone", "",
            "mlrepo: `mlrepo-bench onnx` (ONNXProgram.run on the CPU backend); onnxruntime: "
            "`InferenceSession.run` called from Python (its per-call Python overhead included, as a user "
            "of it pays it). Same rows, float32, 100 features.", "",
            "| model | batch | threads | mlrepo rows/s | onnxruntime rows/s | mlrepo µs/row | onnxruntime µs/row | ratio (mlrepo ÷ ORT rows/s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ex = [r for r in rows if r["kind"] == "exec"]
    keys = []
    for r in ex:
        k = (r["r"]["model"], r["r"]["batch"], r["r"]["threads"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        m = next((r["r"] for r in ex if r["engine"] == "mlrepo" and (r["r"]["model"], r["r"]["batch"], r["r"]["threads"]) == k), None)
        o = next((r["r"] for r in ex if r["engine"] == "onnxruntime" and (r["r"]["model"], r["r"]["batch"], r["r"]["threads"]) == k), None)
        if not m or not o:
            continue
        out.append("| %s | %d | %d | %d | %d | %.2f | %.2f | %.2f× |" % (k[0].replace(".onnx", ""), k[1], k[2], m["rows_per_s"], o["rows_per_s"],
                                                                  m["us_per_row"], o["us_per_row"], m["rows_per_s"] / max(o["rows_per_s"], 1)))
    out += ["", "## Agreement with onnxruntime (1,000 rows through `mlrepo serve`)", ""]
    for r in rows:
        if r["kind"] == "agree":
            out.append("- %s: `%s`" % (r["model"], json.dumps(r["r"])))
    out += ["", "## Serving (wrk, %s s a run)" % meta["duration"], "",
            "| model | rows/request | connections | mlrepo req/s | MLflow req/s | ratio | mlrepo p50 / p99 (ms) | MLflow p50 / p99 (ms) | errors (mlrepo / MLflow) |",
            "|---|---:|---:|---:|---:|---:|---|---|---|"]
    sv = {r["label"]: r for r in rows if r["kind"] == "serve"}

    def rps(r):
        x = r["r"]
        return x["requests"] / (x.get("duration_us", 1) / 1e6) if x.get("requests") else 0.0

    def errs(r):
        x = r["r"]
        return sum(x.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))

    for label, r in sv.items():
        if not label.startswith("mlrepo-"):
            continue
        f = sv.get("mlflow-" + label[len("mlrepo-"):])
        if not f:
            continue
        model = label.split("-")[1]
        a, b = rps(r), rps(f)
        out.append("| %s | %d | %d | %.0f | %.0f | %s | %.2f / %.2f | %.2f / %.2f | %d / %d |" % (
            model, r["body"], r["conns"], a, b, ("%.1f×" % (a / b)) if b else "-",
            r["r"].get("p50_us", 0) / 1e3, r["r"].get("p99_us", 0) / 1e3, f["r"].get("p50_us", 0) / 1e3,
            f["r"].get("p99_us", 0) / 1e3, errs(r), errs(f)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
