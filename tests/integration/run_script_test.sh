#!/usr/bin/env bash
# scripts/run.sh, the README's run command, stops gracefully on Ctrl-C. A
# terminal sends SIGINT to its whole foreground process group: run.sh must
# turn that into exactly one SIGTERM for the service, which then drains and
# exits 0. (Before, the service got the SIGINT and the trap's SIGTERM and
# answered "second signal: exiting now", without draining.)
# Usage: run_script_test.sh SOURCE_DIR
set -euo pipefail
cd "$1"
log="$(mktemp)"
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The dev PostgreSQL of this checkout: stopped again when this test started it.
started_pg=0
[[ -f .commsvc/postgres/data/postmaster.pid ]] || started_pg=1
cleanup() {
  [[ $started_pg == 0 ]] || scripts/dev-postgres.sh stop >/dev/null 2>&1 || true
  rm -f "$log"
}
trap cleanup EXIT

# Job control, as in an interactive terminal: run.sh gets its own process
# group and SIGINT is not ignored (a script's plain `&` would ignore it).
set -m
DEMO=0 HTTP_PORT="$(free_port)" ADMIN_ADDRESS="127.0.0.1:$(free_port)" DEV_PG_PORT="$(free_port)" bash scripts/run.sh >"$log" 2>&1 &
group=$!
set +m
for _ in $(seq 1 240); do
  grep -q "http server listening" "$log" && break
  kill -0 "$group" 2>/dev/null || break
  sleep 0.5
done
grep -q "http server listening" "$log" || { echo "FAIL: the service did not start"; cat "$log"; exit 1; }

kill -INT -- "-$group"  # Ctrl-C
status=0
wait "$group" || status=$?
fail=0
[[ $status == 0 ]] || { echo "FAIL: run.sh exited $status"; fail=1; }
grep -q "all in-flight events finished" "$log" || { echo "FAIL: no graceful drain"; fail=1; }
if grep -q "second signal" "$log"; then echo "FAIL: the service got two signals"; fail=1; fi
[[ $(grep -c "stopping: finishing in-flight" "$log") == 1 ]] || { echo "FAIL: not one stop"; fail=1; }
if [[ $fail != 0 ]]; then cat "$log"; exit 1; fi
echo "1 passed, 0 failed"
