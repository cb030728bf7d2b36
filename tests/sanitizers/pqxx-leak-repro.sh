#!/usr/bin/env bash
# Shows that libpqxx 6.4 itself leaks a libpq result (216 + 2,048 bytes) each
# time a connection breaks under a statement, and that commsvc's work-around
# (engine/src/database/broken_connection_fix.cpp) stops the leak.
#
# Builds pqxx_leak_repro.cpp twice with -fsanitize=address (libpqxx alone,
# then linked with broken_connection_fix.cpp), starts a throw-away
# PostgreSQL in a temporary directory, and runs both; the program stops and
# restarts the server at the right moments. Expected: the plain build has
# LeakSanitizer report one leak per broken connection, the other none.
# Exit 0 when that holds. Needs g++, libpqxx-dev, postgresql-15; works as
# root (the server runs as postgres) and as any other user.
# Environment: PGBIN (PostgreSQL's bin directory), CXX (g++).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [[ -z "${PGBIN:-}" ]]; then
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
[[ -x "${PGBIN:-}/pg_ctl" ]] || { echo "no PostgreSQL server found (set PGBIN)" >&2; exit 1; }
cxx="${CXX:-g++}"

work="$(mktemp -d /tmp/pqxx-leak-repro.XXXXXX)"
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  as_owner "$PGBIN/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

flags=(-std=c++20 -g -O1 -fsanitize=address -fno-omit-frame-pointer)
pq_flags=($(pkg-config --cflags --libs libpqxx libpq))
echo "building the reproduction (libpqxx $(pkg-config --modversion libpqxx) alone, and with the work-around)"
"$cxx" "${flags[@]}" "$here/pqxx_leak_repro.cpp" -o "$work/plain" "${pq_flags[@]}"
"$cxx" "${flags[@]}" -DCOMMSVC_FIX -I"$root/engine/src" "$here/pqxx_leak_repro.cpp" \
  "$root/engine/src/database/broken_connection_fix.cpp" -o "$work/fixed" "${pq_flags[@]}" \
  -ldl -Wl,--export-dynamic-symbol=PQclientEncoding

mkdir -p "$work/sock"
[[ "$(id -u)" != 0 ]] || chown -R postgres: "$work"
as_owner "$PGBIN/initdb" -D "$work/data" -A trust -U postgres --no-locale --no-sync >"$work/initdb.log" 2>&1 \
  || { cat "$work/initdb.log" >&2; exit 1; }
port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
pg_ctl="$PGBIN/pg_ctl -D $work/data -w"
[[ "$(id -u)" != 0 ]] || pg_ctl="runuser -u postgres -- $pg_ctl"
start="$pg_ctl -l $work/server.log -o '-p $port -k $work/sock -c listen_addresses=127.0.0.1 -c fsync=off' start >/dev/null"
stop="$pg_ctl -m fast stop >/dev/null"
eval "$start"
url="postgresql://postgres@127.0.0.1:$port/postgres"

leaks() {  # runs $1, prints its output, returns the number of leaked objects
  local out status=0
  out="$(ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS= "$work/$1" "$url" "$stop" "$start" 2>&1)" || status=$?
  printf '%s\n' "$out" | grep -E "broken_connection|work-around|^(Direct|Indirect) leak|#[0-9]+ .*(PQ|pqxx)|SUMMARY" \
    | sed -e 's/^/    /' | head -n 40
  printf '%s\n' "$out" | grep -c "^Direct leak" || true
}

echo "== libpqxx alone (expected: LeakSanitizer reports one result per break)"
plain="$(leaks plain | tee /dev/stderr | tail -n 1)"
echo "== with broken_connection_fix.cpp (expected: no leak)"
fixed="$(leaks fixed | tee /dev/stderr | tail -n 1)"
echo "direct leaks: libpqxx alone $plain, with the work-around $fixed"
if [[ "$plain" -ge 1 && "$fixed" -eq 0 ]]; then
  echo "reproduced: libpqxx 6.4 leaks a result per broken connection; the work-around frees it"
else
  echo "not as expected" >&2
  exit 1
fi
