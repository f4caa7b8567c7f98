#!/usr/bin/env bash
# Titan health check (runbook: ./scripts/ops/health_check.sh).
# Checks the app (/health), the venue connections as /health reports them, the database
# file (sqlite3 PRAGMA quick_check) and the age of the last backup (latest.db).
# Prints one line per check, then HEALTHY or UNHEALTHY; exits 1 when unhealthy.
#
# Settings (environment, production defaults):
#   TITAN_URL         http://127.0.0.1:8080   where Titan listens (not through Nginx)
#   TITAN_DATA_DIR    /data
#   TITAN_DB_PATH     $TITAN_DATA_DIR/titan.db
#   TITAN_BACKUP_DIR  $TITAN_DATA_DIR/backups
#   MAX_BACKUP_AGE_H  26                      older latest.db = unhealthy
set -uo pipefail

URL="${TITAN_URL:-http://127.0.0.1:${TITAN_PORT:-8080}}"
URL="${URL%/}"
DATA_DIR="${TITAN_DATA_DIR:-/data}"
DB="${TITAN_DB_PATH:-$DATA_DIR/titan.db}"
BACKUP_DIR="${TITAN_BACKUP_DIR:-$DATA_DIR/backups}"
MAX_AGE_H="${MAX_BACKUP_AGE_H:-26}"

failed=0
ok()   { printf 'OK    %s\n' "$*"; }
warn() { printf 'WARN  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failed=$((failed + 1)); }

for cmd in curl sqlite3 python3; do
  command -v "$cmd" >/dev/null 2>&1 || { fail "tools: $cmd is not installed"; }
done

# --- app -------------------------------------------------------------------------------
body="$(mktemp)"
trap 'rm -f "$body"' EXIT
code="$(curl -s -m 5 -o "$body" -w '%{http_code}' "$URL/health" 2>/dev/null)"
code="${code:-000}"
app_up=0
if [ "$code" = "000" ]; then
  fail "app: no answer from $URL/health (is titan-core running? pm2 status)"
else
  status="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("status","?"))' "$body" 2>/dev/null || echo '?')"
  reason="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("reason",""))' "$body" 2>/dev/null || true)"
  case "$status" in
    healthy)  ok "app: healthy ($URL, HTTP $code)"; app_up=1 ;;
    degraded) warn "app: degraded ($URL): $reason"; app_up=1 ;;
    *)        fail "app: $status (HTTP $code) ${reason:+: $reason}"; app_up=1 ;;
  esac
fi

# --- venues (as /health reports them) ---------------------------------------------------
if [ "$app_up" = 1 ]; then
  venues="$(python3 - "$body" <<'PY' 2>/dev/null
import json, sys
checks = json.load(open(sys.argv[1])).get("checks", {})
for name, c in sorted(checks.items()):
    if any(k in name.lower() for k in ("venue", "bybit", "binance")):
        print(("up" if c.get("ok") else "down") + "\t" + name + "\t" + str(c.get("detail", "")))
PY
)"
  if [ -z "$venues" ]; then
    warn "venues: /health reports no venue connection yet"
  else
    while IFS=$'\t' read -r state name detail; do
      if [ "$state" = up ]; then ok "venue $name: connected"
      else fail "venue $name: disconnected${detail:+: $detail}"; fi
    done <<< "$venues"
  fi
else
  fail "venues: unknown (the app does not answer)"
fi

# --- database --------------------------------------------------------------------------
if [ ! -f "$DB" ]; then
  fail "database: $DB does not exist"
else
  qc="$(sqlite3 -readonly -cmd '.timeout 5000' "$DB" 'PRAGMA quick_check;' 2>&1 | head -3 | tr '\n' ' ')"
  qc="${qc% }"
  if [ "$qc" = "ok" ]; then ok "database: $DB quick_check ok"
  else fail "database: $DB quick_check: $qc"; fi
fi

# --- last backup -----------------------------------------------------------------------
latest="$BACKUP_DIR/latest.db"
if [ ! -f "$latest" ]; then
  fail "backup: no $latest (run: titan backup)"
else
  now="$(date +%s)"; mtime="$(stat -c %Y "$latest")"
  age_h=$(( (now - mtime) / 3600 ))
  if [ $(( now - mtime )) -gt $(( MAX_AGE_H * 3600 )) ]; then
    fail "backup: $latest is ${age_h}h old (more than ${MAX_AGE_H}h)"
  else
    ok "backup: $latest is ${age_h}h old"
  fi
fi

if [ "$failed" -gt 0 ]; then
  echo "UNHEALTHY ($failed check(s) failed)"
  exit 1
fi
echo "HEALTHY"
exit 0
