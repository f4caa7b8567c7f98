# Shared by scripts/run and scripts/test: make the project's virtual environment and
# install Titan into it (editable), reinstalling only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TITAN_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

ensure_venv() {
  local extras="$1"   # e.g. "" or "[test]"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  local stamp="$VENV/.titan-installed$extras"
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing titan$extras into $VENV"
    "$VENV/bin/python" -m pip install -q -e "$ROOT$extras"
    echo "$want" > "$stamp"
  fi
}

# Install Debian packages only when the command they provide is missing.
# Usage: ensure_apt COMMAND PACKAGE [COMMAND PACKAGE ...]
ensure_apt() {
  local missing=()
  while [ $# -gt 0 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error: need Debian packages ${missing[*]} and cannot install them (not root, no sudo)" >&2
      return 1
    fi
  fi
  echo "==> installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Install an npm package globally only when its command is missing.
ensure_npm_global() {
  local cmd="$1" pkg="$2"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo "==> installing $pkg from npm"
  npm install -g --silent "$pkg" >/dev/null
}

# The console's browser libraries (lightweight-charts) from npm, into titan/console/node_modules
# (git-ignored), reinstalled only when package-lock.json changed. Without npm, or offline,
# Titan still runs: the console says its charts are unavailable.
ensure_console_assets() {
  local dir="$ROOT/titan/console"
  local stamp="$dir/node_modules/.titan-installed"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "warning: npm not found; the console runs without charts (install Node.js and rerun)" >&2
    return 0
  fi
  echo "==> installing the console's browser libraries (npm ci in titan/console)"
  if (cd "$dir" && npm ci --no-audit --no-fund --silent >/dev/null 2>&1) || \
     (cd "$dir" && npm install --no-audit --no-fund --silent >/dev/null 2>&1); then
    echo "$want" > "$stamp"
  else
    echo "warning: npm could not install the console's libraries; the console runs without charts" >&2
  fi
}
