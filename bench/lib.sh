# shellcheck shell=bash
# Shared functions for bench/run.sh and bench/chunk_sizes.sh. Source it; don't run it.
#
# Per-tool adapters: every tool <t> in TOOLS defines
#   t_<t>_init MODE          create a repo in $PWD (MODE = csv | files)
#   t_<t>_add PATH           stage PATH              (command string, timed)
#   t_<t>_commit MSG         commit                  (command string, timed)
#   t_<t>_after_commit LABEL  remember a ref for LABEL in REF_<LABEL> (untimed)
#   t_<t>_checkout REF       switch working tree     (command string, timed)
#   t_<t>_status             status, nothing changed (command string for hyperfine -N)
#   t_<t>_store              the directory holding the tool's object store
# "command string" functions print a command line that is run with bash -c
# under GNU time, so that every tool is measured the same way (wall time of the
# whole process tree; peak RSS = largest single process in it).

BENCH_SRC=${BENCH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
ROOT=${ROOT:-$(cd "$BENCH_SRC/.." && pwd)}
# Resolve the real interpreter: a pyenv shim (a shell script) would add ~50 ms per call.
PYTHON_BIN=${PYTHON_BIN:-$(python3 -c 'import sys; print(sys.executable)')}
# -S skips site.py (~50 ms here); OXEN_PY_SO tells the wrapper where the binding is.
if [[ -z ${OXEN_PY_SO:-} ]] && OXEN_PY_SO=$("$PYTHON_BIN" "$BENCH_SRC/oxen_cli.py" so-path 2>/dev/null); then export OXEN_PY_SO; fi
if [[ -n ${OXEN_PY_SO:-} ]]; then OXEN=${OXEN:-"$PYTHON_BIN -S $BENCH_SRC/oxen_cli.py"}; else OXEN=${OXEN:-"$PYTHON_BIN $BENCH_SRC/oxen_cli.py"}; fi
CMD_TIMEOUT=${CMD_TIMEOUT:-3600}

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
export DVC_NO_ANALYTICS=1 DVC_NO_UPDATE_CHECK=1
export HYPERFINE_NO_COLOR=1 NO_COLOR=1

log()  { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }

resolve_mlrepo() {
  local m=${MLREPO:-$ROOT/.build/release/mlrepo}
  # Without MLREPO, also accept a release build made with --scratch-path .build-release.
  if [[ -z ${MLREPO:-} && ! -x $m && -x $ROOT/.build-release/release/mlrepo ]]; then
    m=$ROOT/.build-release/release/mlrepo
  fi
  case $m in /*) ;; *) m="$PWD/$m" ;; esac
  MLREPO_BIN=$m
  [[ -x $MLREPO_BIN ]] && log "mlrepo: $MLREPO_BIN"
  return 0
}

tool_available() {
  case $1 in
    mlrepo|mlrepo-nofsync)  [[ -x $MLREPO_BIN ]] ;;
    git)     command -v git >/dev/null ;;
    git-lfs) command -v git >/dev/null && git lfs version >/dev/null 2>&1 ;;
    dvc)     command -v dvc >/dev/null && command -v git >/dev/null ;;
    oxen)    python3 -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec("oxen") is None)' 2>/dev/null ;;
    *) return 1 ;;
  esac
}

tool_version() {
  case $1 in
    mlrepo)  { "$MLREPO_BIN" --version 2>/dev/null || echo "mlrepo (no --version)"; } | head -1
             echo " [$(sha256sum "$MLREPO_BIN" | cut -c1-12), built $(date -r "$MLREPO_BIN" '+%F %T')]" ;;
    mlrepo-nofsync) echo "same binary, core.fsync=false (no fsync, like the anchors)" ;;
    git)     git --version ;;
    git-lfs) git lfs version ;;
    dvc)     echo "dvc $(dvc --version 2>/dev/null | tail -1)" ;;
    oxen)    echo "oxenai $(python3 -c 'import importlib.metadata as m; print(m.version("oxenai"))') (python binding, driven by bench/oxen_cli.py)" ;;
  esac | tr -d '\n'
}

# ---------------------------------------------------------------- mlrepo
t_mlrepo_init()     { "$MLREPO_BIN" init . >/dev/null; }
t_mlrepo_add()      { echo "'$MLREPO_BIN' add $1"; }
t_mlrepo_commit()   { echo "'$MLREPO_BIN' commit -m '$1'"; }
t_mlrepo_after_commit() {
  local id; id=$(grep -v '^[[:space:]]*$' "$LAST_STDOUT" | tail -1 | awk '{print $NF}')
  [[ -n $id ]] || die "mlrepo commit printed no commit id on stdout"
  printf -v "REF_$1" '%s' "$id"
}
t_mlrepo_checkout() { echo "'$MLREPO_BIN' checkout $1"; }
t_mlrepo_status()   { echo "$MLREPO_BIN status"; }
t_mlrepo_store()    { echo .mlrepo; }

# ---------------------------------------------------------------- mlrepo-nofsync
# The same binary with core.fsync=false: crash-safe against killed processes but not
# power loss, which is the durability git-lfs, DVC and Oxen give their object files.
t_mlrepo-nofsync_init()         { "$MLREPO_BIN" init . >/dev/null && "$MLREPO_BIN" config core.fsync false; }
t_mlrepo-nofsync_add()          { t_mlrepo_add "$@"; }
t_mlrepo-nofsync_commit()       { t_mlrepo_commit "$@"; }
t_mlrepo-nofsync_after_commit() { t_mlrepo_after_commit "$@"; }
t_mlrepo-nofsync_checkout()     { t_mlrepo_checkout "$@"; }
t_mlrepo-nofsync_status()       { t_mlrepo_status "$@"; }
t_mlrepo-nofsync_store()        { echo .mlrepo; }

# ---------------------------------------------------------------- git
# gc.auto=0: otherwise the commit of 20,000 loose objects (W3) starts a detached
# `git gc --auto` that keeps running in the background, skews the following
# measurements and races the cleanup of the repo.
git_init_quiet()    { git init -q . && git config gc.auto 0 && git config maintenance.auto false; }
t_git_init()        { git_init_quiet; }
t_git_add()         { echo "git add $1"; }
t_git_commit()      { echo "git commit -q -m '$1'"; }
t_git_after_commit(){ git tag "$1"; printf -v "REF_$1" '%s' "$1"; }
t_git_checkout()    { echo "git checkout -q $1"; }
t_git_status()      { echo "git status"; }
t_git_store()       { echo .git; }

# ---------------------------------------------------------------- git-lfs
t_git-lfs_init() {
  git_init_quiet
  git lfs install --local >/dev/null
  if [[ $1 == csv ]]; then git lfs track '*.csv' >/dev/null; else git lfs track '*.bin' >/dev/null; fi
  git add .gitattributes && git commit -q -m attributes
}
t_git-lfs_add()          { t_git_add "$@"; }
t_git-lfs_commit()       { t_git_commit "$@"; }
t_git-lfs_after_commit() { t_git_after_commit "$@"; }
t_git-lfs_checkout()     { t_git_checkout "$@"; }
t_git-lfs_status()       { t_git_status; }
t_git-lfs_store()        { echo .git; }

# ---------------------------------------------------------------- dvc
t_dvc_init() {
  git_init_quiet && dvc init -q && dvc config core.analytics false && git add -A .dvc .dvcignore 2>/dev/null
  git commit -q -m 'dvc init'
}
t_dvc_add()          { echo "dvc add -q $1"; }
t_dvc_commit()       { echo "git add -A && git commit -q -m '$1'"; }
t_dvc_after_commit() { t_git_after_commit "$@"; }
t_dvc_checkout()     { echo "git checkout -q $1 && dvc checkout -q"; }
t_dvc_status()       { echo "dvc status"; }
t_dvc_store()        { echo .dvc/cache; }

# ---------------------------------------------------------------- oxen
# oxenai's PyPI wheel has no `oxen` executable; bench/oxen_cli.py drives the
# compiled binding. The binding's checkout only resolves branch names, so the
# second version is committed on a branch "v2" and v1 is "main".
t_oxen_init()        { $OXEN init . >/dev/null; }
t_oxen_add()         { echo "$OXEN add $1"; }
t_oxen_commit()      { echo "$OXEN commit -m '$1'"; }
t_oxen_after_commit() {
  case $1 in
    v1) REF_v1=main; $OXEN checkout -b v2 >/dev/null ;;
    v2) REF_v2=v2 ;;
    *)  printf -v "REF_$1" '%s' main ;;
  esac
}
t_oxen_checkout()    { echo "$OXEN checkout $1"; }
t_oxen_status()      { echo "$OXEN status"; }
t_oxen_store()       { echo .oxen; }

ensure_oxen_user() {
  local cfg; cfg=$(python3 -c 'import importlib.util as u,os; print(os.path.expanduser("~/.config/oxen/user_config.toml"))')
  [[ -f $cfg ]] || $OXEN config-user bench bench@example.com
}

# ---------------------------------------------------------------- measuring
# timed LABEL CMDSTRING: runs CMDSTRING with bash -c in $PWD under GNU time.
# Sets T (wall seconds, from date +%s%N) and RSS (peak RSS in KiB, GNU time %M).
# stdout goes to $LAST_STDOUT, both streams are appended to $LOG.
timed() {
  local label=$1 cmd=$2 s e rc=0
  LAST_STDOUT=$WORK/last.stdout
  printf '\n### %s [%s] $ %s\n' "$label" "$PWD" "$cmd" >>"$LOG"
  s=$(date +%s%N)
  timeout "$CMD_TIMEOUT" /usr/bin/time -f '%M' -o "$WORK/last.rss" bash -c "$cmd" >"$LAST_STDOUT" 2>>"$LOG" || rc=$?
  e=$(date +%s%N)
  cat "$LAST_STDOUT" >>"$LOG"
  if (( rc != 0 )); then
    log "FAILED ($rc): $label: $cmd (see $LOG)"
    tail -n 15 "$LOG" >&2
    return 1
  fi
  T=$(awk -v s="$s" -v e="$e" 'BEGIN{printf "%.4f", (e-s)/1e9}')
  RSS=$(tail -n 1 "$WORK/last.rss")
}

# record TOOL METRIC REP VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

store_bytes() { if [[ -d $1 ]]; then du -sb "$1" | cut -f1; else echo 0; fi; }

rm_repo() { # retries: a straggling background process may still be writing into it
  for _ in 1 2 3 4 5; do rm -rf "$1" 2>/dev/null && return 0; sleep 2; done
  rm -rf "$1"
}
fresh_dir() { rm_repo "$1"; mkdir -p "$1"; }

# Median (of numbers on stdin)
median() { sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"} else if(NR%2){print a[(NR+1)/2]} else {printf "%.6f\n",(a[NR/2]+a[NR/2+1])/2}}'; }

# ---------------------------------------------------------------- workloads
# W1 + W2 + W4 for one tool, one repetition, in a fresh repo.
# Needs DATA (dir with v1.csv, v2.csv), WORK, RESULTS, LOG.
run_csv_rep() {
  local tool=$1 rep=$2 repo="$WORK/repo-$1-csv"
  local v1=$DATA/v1.csv v2=$DATA/v2.csv s1 s2 tadd tcom radd rcom t41 t42
  local v1b v2b; v1b=$(stat -c %s "$v1"); v2b=$(stat -c %s "$v2")
  fresh_dir "$repo"; cd "$repo" || return 1
  "t_${tool}_init" csv >>"$LOG" 2>&1
  cp "$v1" data.csv; sync
  log "  $tool rep $rep: W1 add+commit v1.csv"
  timed "$tool W1 add" "$("t_${tool}_add" data.csv)"; tadd=$T; radd=$RSS
  timed "$tool W1 commit" "$("t_${tool}_commit" v1)"; tcom=$T; rcom=$RSS
  "t_${tool}_after_commit" v1 >>"$LOG" 2>&1
  sync
  s1=$(store_bytes "$("t_${tool}_store")")
  record "$tool" w1_add_s "$rep" "$tadd"; record "$tool" w1_commit_s "$rep" "$tcom"
  record "$tool" w1_s "$rep" "$(awk -v a="$tadd" -v b="$tcom" 'BEGIN{print a+b}')"
  record "$tool" w1_add_rss_kb "$rep" "$radd"; record "$tool" w1_commit_rss_kb "$rep" "$rcom"
  record "$tool" w1_store_b "$rep" "$s1"; record "$tool" file_v1_b "$rep" "$v1b"
  log "  $tool rep $rep: W1 ${tadd}s + ${tcom}s, peak RSS ${radd}/${rcom} KiB, store $s1 B"

  cp "$v2" data.csv; sync
  log "  $tool rep $rep: W2 add+commit v2.csv"
  timed "$tool W2 add" "$("t_${tool}_add" data.csv)"; tadd=$T; radd=$RSS
  timed "$tool W2 commit" "$("t_${tool}_commit" v2)"; tcom=$T; rcom=$RSS
  "t_${tool}_after_commit" v2 >>"$LOG" 2>&1
  sync
  s2=$(store_bytes "$("t_${tool}_store")")
  record "$tool" w2_s "$rep" "$(awk -v a="$tadd" -v b="$tcom" 'BEGIN{print a+b}')"
  record "$tool" w2_rss_kb "$rep" "$(( radd > rcom ? radd : rcom ))"
  record "$tool" w2_store_b "$rep" "$s2"; record "$tool" w2_growth_b "$rep" "$(( s2 - s1 ))"
  record "$tool" file_v2_b "$rep" "$v2b"
  log "  $tool rep $rep: W2 ${tadd}s + ${tcom}s, store growth $(( s2 - s1 )) B"

  log "  $tool rep $rep: W4 checkout v2->v1, v1->v2"
  timed "$tool W4 checkout v1" "$("t_${tool}_checkout" "$REF_v1")"; t41=$T
  cmp -s data.csv "$v1" || die "$tool: after checkout v1, data.csv differs from v1.csv"
  sync
  timed "$tool W4 checkout v2" "$("t_${tool}_checkout" "$REF_v2")"; t42=$T
  cmp -s data.csv "$v2" || die "$tool: after checkout v2, data.csv differs from v2.csv"
  record "$tool" w4_to_v1_s "$rep" "$t41"; record "$tool" w4_to_v2_s "$rep" "$t42"
  record "$tool" w4_s "$rep" "$t41"; record "$tool" w4_s "$rep" "$t42"
  log "  $tool rep $rep: W4 ${t41}s / ${t42}s"
  sync
  cd "$WORK" || return 1; rm_repo "$repo"
}

# W3 for one tool, one repetition: many small files, then status (median of STATUS_RUNS).
run_files_rep() {
  local tool=$1 rep=$2 repo="$WORK/repo-$1-files" tadd tcom radd rcom st cmd
  fresh_dir "$repo"; cd "$repo" || return 1
  "t_${tool}_init" files >>"$LOG" 2>&1
  cp -r "$DATA/files" files; sync
  log "  $tool rep $rep: W3 add+commit files/"
  timed "$tool W3 add" "$("t_${tool}_add" files)"; tadd=$T; radd=$RSS
  timed "$tool W3 commit" "$("t_${tool}_commit" files)"; tcom=$T; rcom=$RSS
  "t_${tool}_after_commit" f >>"$LOG" 2>&1
  sync
  record "$tool" w3_s "$rep" "$(awk -v a="$tadd" -v b="$tcom" 'BEGIN{print a+b}')"
  record "$tool" w3_rss_kb "$rep" "$(( radd > rcom ? radd : rcom ))"
  record "$tool" w3_store_b "$rep" "$(store_bytes "$("t_${tool}_store")")"
  cmd=$("t_${tool}_status")
  printf '\n### %s W3 status (hyperfine) $ %s\n' "$tool" "$cmd" >>"$LOG"
  bash -c "$cmd" >>"$LOG" 2>&1 || die "$tool: '$cmd' failed (see $LOG)"
  hyperfine -N --style basic --warmup 1 --runs "$STATUS_RUNS" --export-json "$WORK/hf.json" "$cmd" >>"$LOG" 2>&1 \
    || die "$tool: hyperfine on '$cmd' failed (see $LOG)"
  st=$(python3 -c 'import json,sys; print("%.6f" % json.load(open(sys.argv[1]))["results"][0]["median"])' "$WORK/hf.json")
  record "$tool" w3_status_s "$rep" "$st"
  log "  $tool rep $rep: W3 ${tadd}s + ${tcom}s, status median ${st}s"
  cd "$WORK" || return 1; rm_repo "$repo"
}

# ---------------------------------------------------------------- data
# ensure_data SIZE_MB FILES -> sets DATA; reuses data with identical params.json.
ensure_data() {
  local size=$1 files=$2 base=${BENCH_DATA_DIR:-${BENCH_DIR:-/tmp}/mlrepo-bench-data}
  DATA="$base/s${size}-f${files}"
  if [[ -f $DATA/params.json ]] && python3 - "$DATA/params.json" "$size" "$files" <<'EOF'
import json, os, sys
p = json.load(open(sys.argv[1])); d = os.path.dirname(sys.argv[1])
ok = (p.get("gen_version") == 2 and p.get("size_mb") == int(sys.argv[2]) and p.get("files") == int(sys.argv[3])
      and os.path.getsize(os.path.join(d, "v1.csv")) == p["v1_bytes"]
      and os.path.getsize(os.path.join(d, "v2.csv")) == p["v2_bytes"])
sys.exit(0 if ok else 1)
EOF
  then
    log "reusing data in $DATA"
  else
    log "generating data into $DATA (size ${size} MiB, ${files} files)"
    mkdir -p "$DATA"
    python3 "$BENCH_SRC/gen_data.py" "$DATA" --size-mb "$size" --files "$files" >&2
  fi
}
