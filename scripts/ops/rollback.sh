#!/usr/bin/env bash
# Roll Titan back to a release (runbook: ./scripts/ops/rollback.sh [VERSION]).
#
#   ./scripts/ops/rollback.sh v1.2.3     halt, move the code to tag v1.2.3, restart, verify
#   ./scripts/ops/rollback.sh            re-deploy the current version (same steps, no move)
#   --dry-run     say what would be done, change nothing
#   --skip-halt   do not halt through the API (only when you have halted by other means)
#
# Steps: refuse on a dirty working tree; check the version exists (git fetch --tags when
# there is a remote); HARD_HALT through POST /api/system/halt (stops here if that fails);
# git checkout VERSION; reinstall into the virtual environment when pyproject.toml
# changed; pm2 restart titan-core; wait for /health. Trading stays HARD_HALT afterwards:
# resume by hand once you have checked (console System tab, or the API with state OPEN).
#
# Environment: TITAN_URL (default http://127.0.0.1:8080), TITAN_CONSOLE_USER
# (titan_admin), TITAN_CONSOLE_PASSWORD (else read from $TITAN_DATA_DIR/secrets.json),
# TITAN_DATA_DIR (/data), TITAN_VENV (.venv), PM2_APP (titan-core),
# HEALTH_TIMEOUT_S (90).
set -euo pipefail

# git checkout may rewrite this very file while bash is reading it: run from a copy.
if [ -z "${_TITAN_ROLLBACK_ROOT:-}" ]; then
  _TITAN_ROLLBACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  self="$(mktemp "${TMPDIR:-/tmp}/titan-rollback.XXXXXX")"
  cp "${BASH_SOURCE[0]}" "$self"
  export _TITAN_ROLLBACK_ROOT _TITAN_ROLLBACK_SELF="$self"
  exec bash "$self" "$@"
fi
trap 'rm -f "${_TITAN_ROLLBACK_SELF:-}"' EXIT
ROOT="$_TITAN_ROLLBACK_ROOT"
URL="${TITAN_URL:-http://127.0.0.1:${TITAN_PORT:-8080}}"; URL="${URL%/}"
APP="${PM2_APP:-titan-core}"
DATA_DIR="${TITAN_DATA_DIR:-/data}"
HEALTH_TIMEOUT_S="${HEALTH_TIMEOUT_S:-90}"

DRY=0; SKIP_HALT=0; VERSION=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --skip-halt) SKIP_HALT=1 ;;
    -h|--help) sed -n '2,21p' "$ROOT/scripts/ops/rollback.sh"; exit 0 ;;
    -*) echo "rollback: unknown option $arg" >&2; exit 2 ;;
    *) [ -z "$VERSION" ] || { echo "rollback: only one VERSION" >&2; exit 2; }; VERSION="$arg" ;;
  esac
done

say()  { echo "==> $*"; }
die()  { echo "rollback: ERROR: $*" >&2; exit "${2:-1}"; }
run()  { if [ "$DRY" = 1 ]; then echo "    [dry-run] $*"; else "$@"; fi; }

cd "$ROOT"
git rev-parse --git-dir >/dev/null 2>&1 || die "$ROOT is not a git checkout"

# 1. a dirty tree would be lost or mixed into the release: refuse
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  git status --short --untracked-files=no >&2
  die "the working tree has uncommitted changes; commit or stash them first. Nothing was changed." 2
fi

# 2. what to deploy
current="$(git describe --tags --always 2>/dev/null || git rev-parse --short HEAD)"
if [ -n "$VERSION" ]; then
  if [ -n "$(git remote)" ]; then
    say "fetching tags"
    run git fetch --tags --quiet || die "git fetch --tags failed. Nothing was changed."
  fi
  git rev-parse -q --verify "${VERSION}^{commit}" >/dev/null \
    || die "version $VERSION not found (known tags: $(git tag --list | tail -5 | tr '\n' ' ')). Nothing was changed." 2
  target="$VERSION"
else
  target="$current"
fi
say "rollback: $current -> $target$([ "$DRY" = 1 ] && echo ' (dry run: nothing will be changed)')"

# 3. halt trading first
if [ "$SKIP_HALT" = 1 ]; then
  say "skipping the halt (--skip-halt): make sure trading is halted"
else
  user="${TITAN_CONSOLE_USER:-titan_admin}"
  pass="${TITAN_CONSOLE_PASSWORD:-}"
  if [ -z "$pass" ] && [ -r "$DATA_DIR/secrets.json" ]; then
    pass="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("console_password",""))' "$DATA_DIR/secrets.json" 2>/dev/null || true)"
  fi
  payload="{\"state\":\"HARD_HALT\",\"reason\":\"rollback to $target\"}"
  say "halting trading: POST $URL/api/system/halt $payload"
  if [ "$DRY" = 0 ]; then
    out="$(mktemp)"
    code="$(curl -s -m 30 -o "$out" -w '%{http_code}' -X POST "$URL/api/system/halt" \
      -u "$user:$pass" -H 'Content-Type: application/json' -d "$payload" 2>/dev/null || true)"
    answer="$(head -c 300 "$out" 2>/dev/null)"; rm -f "$out"
    if [ "$code" != "200" ]; then
      die "could not halt trading (HTTP ${code:-none}${answer:+: $answer}). Nothing was changed.
Halt by other means (console: System -> HARD HALT), then re-run with --skip-halt." 3
    fi
    say "trading is HARD_HALT"
  fi
fi

# 4. move the code
if [ "$target" != "$current" ] || [ -n "$VERSION" ]; then
  say "checking out $target"
  run git checkout --quiet "$target"
fi

# 5. dependencies (reinstalled when pyproject.toml differs from what is installed)
say "installing dependencies into ${TITAN_VENV:-$ROOT/.venv}"
if [ "$DRY" = 1 ]; then
  echo "    [dry-run] ensure_venv (pip install -e $ROOT when pyproject.toml changed)"
else
  # shellcheck source=../lib/env.sh
  source "$ROOT/scripts/lib/env.sh"
  ensure_venv ""
fi

# 6. restart under PM2
command -v pm2 >/dev/null 2>&1 || die "pm2 is not installed"
if pm2 describe "$APP" >/dev/null 2>&1; then
  say "pm2 restart $APP"
  run pm2 restart "$APP" >/dev/null
else
  say "$APP is not known to PM2: pm2 start ecosystem.config.js"
  run pm2 start "$ROOT/ecosystem.config.js" >/dev/null
fi

# 7. verify
if [ "$DRY" = 1 ]; then
  echo "    [dry-run] wait for $URL/health to answer healthy"
  say "dry run done: nothing was changed"
  exit 0
fi
say "waiting for $URL/health"
deadline=$(( $(date +%s) + HEALTH_TIMEOUT_S ))
while :; do
  body="$(curl -s -m 5 "$URL/health" 2>/dev/null || true)"
  case "$body" in
    *'"status": "healthy"'*|*'"status":"healthy"'*|*'"status": "degraded"'*|*'"status":"degraded"'*)
      break ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || die "Titan is not healthy $HEALTH_TIMEOUT_S s after the restart: ${body:-no answer}. Check: pm2 logs $APP --lines 100" 4
  sleep 1
done
say "rollback to $target done; Titan is up: ${body:0:200}"
say "trading stays halted: resume only after checking (console System tab, or POST /api/system/halt {\"state\":\"OPEN\",\"reason\":...})"
