#!/usr/bin/env bash
# End-to-end demo on generated data: version a dataset, change it, see dedup, diff and
# check out the old version, run a pipeline, train, serve and share a model.
# Usage: demo/run.sh [ROWS] (default 500000). Everything it writes goes under one folder in
# /tmp (printed first), removed when it ends; KEEP=1 keeps it.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROWS="${1:-500000}"

echo "== building mlrepo (release; a first build takes a few minutes)"
(cd "$ROOT" && swift build -c release --product mlrepo)
M="$ROOT/.build/release/mlrepo"

TMP="$(mktemp -d /tmp/mlrepo-demo.XXXXXX)"
WORK="$TMP/repo"          # the demo repository
SHARE="$TMP/share"        # a remote and a lazy clone of it
SERVE_PID=""
cleanup() {
  if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then echo "== kept $TMP"; else rm -rf "$TMP"; echo "== removed $TMP"; fi
}
trap cleanup EXIT
# Scratch copies (repro --verify, train --verify) go under $TMP too.
export TMPDIR="$TMP/tmp"
mkdir -p "$WORK" "$SHARE" "$TMPDIR"
echo "== working in $TMP (repository: $WORK)"
cd "$WORK"
export MLREPO_AUTHOR_NAME="Demo User" MLREPO_AUTHOR_EMAIL="demo@example.com"

gen() { # gen SEED ROWS: a numeric CSV with a label column
  awk -v seed="$1" -v rows="$2" 'BEGIN {
    srand(seed); print "f1,f2,f3,f4,f5,f6,f7,f8,label"
    for (i = 0; i < rows; i++) {
      line = ""
      for (j = 0; j < 8; j++) { v[j] = rand() * 10 - 5; line = line sprintf("%.6f,", v[j]) }
      # the label follows f1 and f2 for most rows, so a model has something to learn
      print line (rand() < 0.8 ? int((v[0] + 5) / 2) + 5 * (v[1] > 0) : int(rand() * 10))
    }
  }'
}

"$M" init .
mkdir -p data code models
gen 42 "$ROWS" > data/train.csv
gen 7 $((ROWS / 10)) > data/test.csv
printf 'print("train")\n' > code/train.py
head -c 1000000 /dev/urandom > models/model.bin
printf '*.tmp\n' > .mlrepoignore
echo "scratch" > notes.tmp

echo "== add + commit version 1 ($(du -h data/train.csv | cut -f1) of CSV)"
time "$M" add .
V1=$("$M" commit -m "dataset v1, first model")
"$M" tag v1
echo "commit $V1"

echo "== relabel 0.1% of rows, append 1%, retrain"
awk -F, -v OFS=, 'NR > 1 && NR % 1000 == 0 { $9 = ($9 + 1) % 10 } { print }' data/train.csv > data/train.new
gen 99 $((ROWS / 100)) | tail -n +2 >> data/train.new
mv data/train.new data/train.csv
head -c 1000000 /dev/urandom > models/model.bin
"$M" status
stored() { "$M" du --json | sed -n 's/.*"stored_bytes": *\([0-9]*\).*/\1/p'; }
before=$(stored)
"$M" add data/train.csv
after=$(stored)
size=$(wc -c < data/train.csv)
awk -v d=$((after - before)) -v n="$size" 'BEGIN {
  printf "store growth for data/train.csv v2: %.1f MB new in the store for a %.1f MB file (%.1f%%; a second copy would be 100%%)\n",
    d / 1e6, n / 1e6, 100 * d / n }'
"$M" add .
V2=$("$M" commit -m "relabelled 0.1%, appended 1%, new model")
echo "commit $V2"

echo "== what changed: files, and inside the CSV the rows and column statistics"
"$M" diff v1 HEAD --stat
"$M" diff v1 HEAD -- data/train.csv
"$M" profile data/train.csv | head -n 8
"$M" log --oneline
echo "== storage: the second version stores only the chunks that changed"
"$M" du

echo "== check out v1 again, then come back"
"$M" checkout v1
"$M" show v1:data/train.csv | cmp - data/train.csv && echo "data/train.csv is v1 again"
"$M" switch main

echo "== a pipeline: featurize, then train a nearest-centroid classifier (awk), with params and metrics"
mkdir -p src metrics
cat > src/featurize.sh <<'SH'
# scale features to [0, 1] (the generator draws them in [-5, 5])
for f in train test; do
  awk -F, -v OFS=, 'NR == 1 { print; next } { for (i = 1; i < NF; i++) $i = sprintf("%.4f", ($i + 5) / 10); print }' \
    data/$f.csv > data/$f.features.csv
done
SH
cat > src/train.sh <<'SH'
# class centroids over the first N features (params.json: train.n_features), then accuracy on test
n=$(sed -n 's/.*"n_features": *\([0-9]*\).*/\1/p' params.json)
awk -F, -v n="$n" 'NR > 1 { c[$NF]++; for (i = 1; i <= n; i++) s[$NF, i] += $i }
  END { for (k in c) { printf "%s", k; for (i = 1; i <= n; i++) printf ",%.6f", s[k, i] / c[k]; print "" } }' \
  data/train.features.csv | sort -n > models/centroids.csv
awk -F, -v n="$n" 'NR == FNR { for (i = 1; i <= n; i++) m[$1, i] = $(i + 1); k[$1] = 1; next }
  FNR > 1 { best = ""; for (c in k) { d = 0; for (i = 1; i <= n; i++) d += ($i - m[c, i]) ^ 2
            if (best == "" || d < bd) { best = c; bd = d } } ok += (best == $NF); t++ }
  END { printf "{\"accuracy\": %.6f, \"test\": {\"rows\": %d}}\n", ok / t, t }' \
  models/centroids.csv data/test.features.csv > metrics/train.json
SH
echo '{"train": {"n_features": 8}}' > params.json
cat > mlrepo.json <<'JSON'
{"stages": {
  "featurize": {"cmd": "sh src/featurize.sh", "deps": ["data/train.csv", "data/test.csv", "src/featurize.sh"],
                "outs": ["data/train.features.csv", "data/test.features.csv"]},
  "train": {"cmd": "sh src/train.sh", "deps": ["data/train.features.csv", "data/test.features.csv", "src/train.sh"],
            "params": ["train.n_features"], "outs": ["models/centroids.csv"], "metrics": ["metrics/train.json"]}
}}
JSON
"$M" repro
"$M" commit -m "pipeline: all 8 features" >/dev/null
echo "== change one param (keep only the 2 informative features): only train re-runs"
echo '{"train": {"n_features": 2}}' > params.json
"$M" repro
"$M" params diff
"$M" metrics diff
"$M" commit -m "pipeline: 2 features" >/dev/null
echo "== experiments, lineage, and a proof that HEAD reproduces bit for bit"
"$M" exp show -n 3
"$M" lineage models/centroids.csv
"$M" lineage data/train.csv --downstream
"$M" log --kind model --oneline
"$M" repro --verify | tail -n 6

echo "== built-in training: an MLP on the same data, evaluated on the test set"
cat > mlrepo.json <<'JSON'
{"stages": {
  "featurize": {"cmd": "sh src/featurize.sh", "deps": ["data/train.csv", "data/test.csv", "src/featurize.sh"],
                "outs": ["data/train.features.csv", "data/test.features.csv"]},
  "train": {"cmd": "sh src/train.sh", "deps": ["data/train.features.csv", "data/test.features.csv", "src/train.sh"],
            "params": ["train.n_features"], "outs": ["models/centroids.csv"], "metrics": ["metrics/train.json"]},
  "mlp": {"train": {"model": "mlp_classifier", "data": "data/train.csv", "label": "label",
                    "params": {"hidden_layers": [32], "epochs": 20, "batch_size": 256}, "seed": 0},
          "outs": ["models/mlp.mlmodel"], "metrics": ["metrics/mlp_train.json"]},
  "mlp_eval": {"eval": {"model": "models/mlp.mlmodel", "data": "data/test.csv"}, "metrics": ["metrics/mlp_eval.json"]}
}}
JSON
"$M" repro
"$M" commit -m "built-in MLP" >/dev/null
echo "== change the data (relabel 5% of the training rows), retrain only what depends on it, diff the metrics"
awk -F, -v OFS=, 'NR > 1 && NR % 20 == 0 { $9 = ($9 + 3) % 10 } { print }' data/train.csv > data/train.new && mv data/train.new data/train.csv
"$M" repro
"$M" metrics diff
"$M" commit -m "noisier labels" >/dev/null
"$M" predict models/mlp.mlmodel --data data/test.csv --probabilities | head -n 3
"$M" train --verify HEAD | tail -n 3
"$M" fsck
echo "== serve the committed model over HTTP (MLflow's scoring protocol) and score a row with curl"
"$M" serve HEAD --model models/mlp.mlmodel --port 0 --log "$WORK/access.log" 2> "$WORK/serve.err" &
SERVE_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/serve.err" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/serve.err"
PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/serve.err")
ROW=$(sed -n 2p data/test.csv | cut -d, -f1-8)
COLS=$(head -n 1 data/test.csv | cut -d, -f1-8 | sed 's/[^,]*/"&"/g')
curl -s -X POST "http://127.0.0.1:$PORT/invocations" -H 'Content-Type: application/json' \
  -d "{\"dataframe_split\": {\"columns\": [$COLS], \"data\": [[$ROW]]}}"
echo
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^mlrepo_(requests_total|rows_scored_total)'
kill -TERM $SERVE_PID; wait $SERVE_PID; SERVE_PID=""
echo "== bring your own model: a scikit-learn pipeline (one-hot string columns + scaler + classifier) exported"
echo "   to ONNX with skl2onnx, run by mlrepo itself (no Python, no onnxruntime), promoted to the registry"
mkdir -p models && cp "$ROOT/Tests/Fixtures/onnx/ct_strings.onnx" models/sklearn.onnx
"$M" model inspect models/sklearn.onnx | sed -n '1,8p;/^runnable/p'
printf 'color,size,x1,x2\nred,M,-0.6,1.9\nblue,L,0.4,-1.2\n' > new-rows.csv
"$M" predict models/sklearn.onnx --data new-rows.csv --probabilities
"$M" add models/sklearn.onnx >/dev/null && "$M" commit -m "a model trained outside mlrepo" >/dev/null
"$M" promote models/sklearn.onnx --to candidate --no-lineage
echo "== share it: push to a remote (a folder here; s3://BUCKET/PREFIX works the same), then take"
echo "   only the model out of it with a lazy clone (history and metadata only, the model's bytes on demand)"
"$M" remote add origin "$SHARE/remote"
"$M" push -q --all
"$M" clone -q --lazy --no-checkout "$SHARE/remote" "$SHARE/clone"
(cd "$SHARE/clone" && "$M" log --oneline | head -n 3 && "$M" checkout main -- models/mlp.mlmodel \
  && "$M" status | tail -n 3 && "$M" predict models/mlp.mlmodel --data "$WORK/data/test.csv" | head -n 2)
echo "   remote: $(du -sh "$SHARE/remote" | cut -f1); the lazy clone's store after taking the model: $(du -sh "$SHARE/clone/.mlrepo" | cut -f1)"

echo "== work together: a teammate clones, relabels some rows and pushes; you relabel other rows,"
echo "   your push is refused, and pull merges the two relabellings row by row"
"$M" clone -q "$SHARE/remote" "$SHARE/mate"
(cd "$SHARE/mate" && MLREPO_AUTHOR_NAME="Teammate" \
  && awk -F, -v OFS=, 'NR > 1 && NR % 997 == 0 { $9 = ($9 + 3) % 10 } { print }' data/train.csv > data/t && mv data/t data/train.csv \
  && "$M" add data/train.csv && "$M" commit -q -m "teammate: relabel every 997th row" && "$M" push -q)
awk -F, -v OFS=, 'NR > 1 && NR % 1009 == 0 { $9 = ($9 + 7) % 10 } { print }' data/train.csv > data/t && mv data/t data/train.csv
"$M" add data/train.csv && "$M" commit -q -m "me: relabel every 1009th row"
"$M" push -q || echo "(refused, as expected: the remote moved)"
"$M" pull
"$M" log --graph --oneline -n 4
"$M" diff --rows HEAD^1 HEAD --limit 3 -- data/train.csv
"$M" push -q && echo "pushed the merge"

echo "== see it: the MLP's training curve as a static HTML report, then the web app over this history"
"$M" plots show metrics/mlp_train.json -o "$WORK/plots"
"$M" ui --port 0 2> "$WORK/ui.err" &
SERVE_PID=$!
for _ in $(seq 100); do grep -q serving "$WORK/ui.err" 2>/dev/null && break; sleep 0.1; done
cat "$WORK/ui.err"
PORT=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$WORK/ui.err")
for page in "experiments?branch=all" "charts" "lineage" "registry" "data?path=data/train.csv"; do
  curl -s -o /dev/null -w "  /$page: HTTP %{http_code}, %{size_download} bytes, %header{server-timing}\n" "http://127.0.0.1:$PORT/$page"
done
echo "  experiments in the table: $(curl -s "http://127.0.0.1:$PORT/experiments?branch=all" | grep -o 'class="pick"' | wc -l)"
echo "  (run 'mlrepo ui' in a repository and open http://127.0.0.1:8765/ to browse it)"
kill -TERM $SERVE_PID; wait $SERVE_PID; SERVE_PID=""
echo "== done"
