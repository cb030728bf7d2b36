#!/usr/bin/env bash
# Starts (idempotently) a local development PostgreSQL for scripts/run.sh:
# data in .commsvc/postgres, port 55432 on 127.0.0.1 only, trust auth, user
# postgres, database commsvc: the default database.url of pipelines.yaml.
# Prints the URL.  `scripts/dev-postgres.sh stop` stops it.
# Environment: PGBIN (PostgreSQL's bin directory), DEV_PG_PORT (55432).
set -euo pipefail
cd "$(dirname "$0")/.."

port="${DEV_PG_PORT:-55432}"
base="$PWD/.commsvc/postgres"
data="$base/data"
sock="$base/sock"
log="$base/server.log"
url="postgresql://postgres@127.0.0.1:${port}/commsvc"

if [[ -z "${PGBIN:-}" ]]; then
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$PGBIN" ]]; then
    PGBIN="$(dirname "$(command -v pg_ctl || echo /nonexistent/pg_ctl)")"
  fi
fi
[[ -x "$PGBIN/pg_ctl" ]] || { echo "no PostgreSQL server found (apt-get install postgresql-15, or set PGBIN)" >&2; exit 1; }

# Runs a server program as postgres when we are root (initdb refuses root).
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "${1:-start}" in
  stop)
    if [[ -d "$data" ]] && running; then
      as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
      echo "stopped"
    else
      echo "not running"
    fi
    exit 0
    ;;
  start) ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac

mkdir -p "$sock"
if [[ "$(id -u)" == 0 ]]; then chown -R postgres: "$base"; fi
if [[ ! -f "$data/PG_VERSION" ]]; then
  as_owner "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-locale >"$base/initdb.log" 2>&1 \
    || { cat "$base/initdb.log" >&2; exit 1; }
fi
if ! running; then
  as_owner "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 30 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >/dev/null \
    || { tail -n 20 "$log" >&2; exit 1; }
fi
if ! as_owner "$PGBIN/psql" -h "$sock" -p "$port" -U postgres -d postgres -tAc \
     "SELECT 1 FROM pg_database WHERE datname = 'commsvc'" | grep -q 1; then
  as_owner "$PGBIN/createdb" -h "$sock" -p "$port" -U postgres commsvc
fi
echo "$url"
