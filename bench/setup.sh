#!/usr/bin/env bash
# Install the benchmark's comparison tools ("anchors") idempotently:
#   git-lfs, hyperfine, GNU time (Debian packages) and dvc, oxenai (PyPI).
# Already-present tools are skipped. Needs root (or sudo) for apt-get.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo

apt_pkgs=()
git lfs version >/dev/null 2>&1 || apt_pkgs+=(git-lfs)
command -v git >/dev/null      || apt_pkgs+=(git)
command -v hyperfine >/dev/null || apt_pkgs+=(hyperfine)
{ [[ -x /usr/bin/time ]] && /usr/bin/time -f '%M' true >/dev/null 2>&1; } || apt_pkgs+=(time)
command -v openssl >/dev/null  || apt_pkgs+=(openssl)
if (( ${#apt_pkgs[@]} )); then
  log "apt-get install ${apt_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
else
  log "apt packages present"
fi

PY=${PYTHON:-python3}
pip_pkgs=()
command -v dvc >/dev/null || pip_pkgs+=(dvc)
$PY -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec("oxen") is None)' 2>/dev/null || pip_pkgs+=(oxenai)
$PY -c 'import numpy' 2>/dev/null || pip_pkgs+=(numpy)
if (( ${#pip_pkgs[@]} )); then
  log "pip install ${pip_pkgs[*]}"
  $PY -m pip install -q "${pip_pkgs[@]}"
else
  log "python packages present"
fi

# Oxen needs a user identity before it can commit.
cfg=$HOME/.config/oxen/user_config.toml
if [[ ! -f $cfg ]]; then
  $PY "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/oxen_cli.py" config-user bench bench@example.com
  log "wrote $cfg"
fi

log "versions:"
{
  git --version
  git lfs version
  echo "hyperfine: $(hyperfine --version)"
  echo "GNU time: $(/usr/bin/time --version 2>&1 | head -1)"
  echo "dvc $(dvc --version)"
  echo "oxenai $($PY -c 'import importlib.metadata as m; print(m.version("oxenai"))')"
  openssl version
} | sed 's/^/  /' >&2
