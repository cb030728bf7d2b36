#!/usr/bin/env bash
# A pipeline using the out-of-tree example-webhook channel delivers to a
# real HTTP server. Called by example_webhook_test.sh once the example is
# built:
#   tests/install/example_webhook_delivery.sh PREFIX EXAMPLE_DIR
# PREFIX is the `cmake --install` prefix, EXAMPLE_DIR the copy of
# examples/channel-webhook with its build/ (example-webhook.so). Starts a
# throw-away PostgreSQL (as the postgres user when root), the HTTP sink of
# tests/support/http_sink.py and `PREFIX/bin/commsvc run` on the example's
# pipeline.yaml (embedded Kafka broker; http on a free port, loopback only),
# creates a queued email over POST /api/emails, puts
# communication.send_email on the topic with `commsvc produce`, and checks
# the sink's journal: one POST to /hook, Content-Type application/json, a
# JSON body with the email's subject and recipient. Every process and file
# it starts or writes is gone on exit.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="$(cd "$1" && pwd)"
example="$(cd "$2" && pwd)"
python=/usr/bin/python3
[[ -x "$python" ]] || python="$(command -v python3)"

work="$(mktemp -d)"
chmod 711 "$work"  # the postgres user must reach $work/pg
pids=()
pg_started=0
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)}"
[[ -n "$PGBIN" ]] || PGBIN="$(dirname "$(command -v pg_ctl || echo /nonexistent/pg_ctl)")"
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ $pg_started == 0 ]] || as_owner "$PGBIN/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits up to $1 tenths of a second for the command to succeed.
wait_for() {
  local n="$1"; shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -n 40 "$f"; done; exit 1; }

echo "== the HTTP sink"
"$python" "$src/tests/support/http_sink.py" --journal "$work/journal.jsonl" --port 0 \
  --port-file "$work/sink.port" >"$work/sink.log" 2>&1 &
pids+=($!)
wait_for 100 test -s "$work/sink.port" || fail "the HTTP sink did not start"
sink_port="$(head -n 1 "$work/sink.port")"

echo "== a throw-away PostgreSQL"
[[ -x "$PGBIN/pg_ctl" ]] || fail "no PostgreSQL server found (apt-get install postgresql-15, or set PGBIN)"
pg_port="$(free_port)"
cd "$work"  # the postgres user's programs start in the current directory
mkdir -p "$work/pg/sock"
[[ "$(id -u)" != 0 ]] || chown -R postgres: "$work/pg"
as_owner "$PGBIN/initdb" -D "$work/pg/data" -A trust -U postgres -E UTF8 --no-locale \
  >"$work/initdb.log" 2>&1 || fail "initdb"
pg_started=1
as_owner "$PGBIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 30 \
  -o "-p $pg_port -k $work/pg/sock -c listen_addresses=127.0.0.1 -c fsync=off" start \
  >"$work/pg_ctl.log" 2>&1 || fail "PostgreSQL did not start"
as_owner "$PGBIN/createdb" -h "$work/pg/sock" -p "$pg_port" -U postgres commsvc

echo "== commsvc run on the example pipeline"
# The example pipeline unchanged, plus an http section: a free port on
# loopback (the default 8004 may be taken) for POST /api/emails.
cp "$example/pipeline.yaml" "$example/delivery.yaml"
printf 'http: { port: 0, address: 127.0.0.1, admin_address: "127.0.0.1:0" }\n' >>"$example/delivery.yaml"
export WEBHOOK_URL="http://127.0.0.1:$sink_port/hook"
export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/commsvc"
export KAFKA_BROKERS=embedded
cd "$example"  # the embedded broker's bootstrap_file (.commsvc/kafka-bootstrap) is relative
rm -f .commsvc/kafka-bootstrap
"$prefix/bin/commsvc" run -c delivery.yaml >"$work/commsvc.log" 2>&1 &
pids+=($!)
service=$!
started() { grep -q "http server listening" "$work/commsvc.log" && test -s .commsvc/kafka-bootstrap; }
wait_for 300 started || fail "commsvc did not start"
kill -0 "$service" 2>/dev/null || fail "commsvc exited"
api_port="$(grep "http server listening" "$work/commsvc.log" | head -n 1 | sed -E 's/.*port=([0-9]+).*/\1/')"
[[ "$api_port" =~ ^[0-9]+$ ]] || fail "no port in the 'http server listening' line"

echo "== one queued email, communication.send_email on the topic"
subject="Webhook delivery $$"
created="$(curl -sf -m 10 -X POST "http://127.0.0.1:$api_port/api/emails" \
  -H 'Content-Type: application/json' -d "{
  \"betreff\": \"$subject\", \"empfaenger_email\": \"patient@example.org\",
  \"empfaenger_name\": \"Erika Mustermann\", \"patient_id\": 42,
  \"status\": \"In_Warteschlange\", \"inhalt_markdown\": \"Guten Tag\"}")" ||
  fail "POST /api/emails"
id="$(sed -E 's/.*"id":([0-9]+).*/\1/' <<<"$created")"
[[ "$id" =~ ^[0-9]+$ ]] || fail "no id in the answer to POST /api/emails: $created"
"$prefix/bin/commsvc" produce -c delivery.yaml --type communication.send_email --key "$id" \
  --payload "{\"email_id\": $id}" >"$work/produce.log" 2>&1 || fail "commsvc produce"

echo "== the sink's journal"
wait_for 200 test -s "$work/journal.jsonl" || fail "nothing reached the HTTP sink"
sleep 0.3  # a second (wrong) request would show up here
"$python" - "$work/journal.jsonl" "$subject" <<'EOF' || fail "the journal does not show the delivery"
import json, sys
journal, subject = sys.argv[1], sys.argv[2]
requests = [json.loads(line) for line in open(journal) if line.strip()]
assert len(requests) == 1, f"{len(requests)} requests, expected 1: {requests}"
r = requests[0]
assert r["method"] == "POST", r
assert r["path"] == "/hook", r
headers = {k.lower(): v for k, v in r["headers"].items()}
assert headers.get("content-type", "").startswith("application/json"), headers
body = json.loads(r["body"])
assert body["subject"] == subject, body
assert body["to"] == "patient@example.org", body
assert body["to_name"] == "Erika Mustermann", body
assert "Guten Tag" in body["text"], body
print(f"POST /hook with subject {body['subject']!r} to {body['to']} (answered {r['status']})")
EOF
echo "example-webhook: a pipeline using it delivered email $id to the HTTP sink"
