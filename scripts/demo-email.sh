#!/usr/bin/env bash
# Puts one email through a running service (scripts/run.sh), as the other
# services of the platform do: creates a queued email over the HTTP API,
# puts communication.send_email on the topic, and prints the events the
# service published about it (communication.email_created, email.sent).
# Environment: HTTP_PORT (8004).
set -euo pipefail
# The variables pipelines.yaml requires, as scripts/run.sh sets them.
export KAFKA_BROKERS="${KAFKA_BROKERS:-embedded}" EMAIL_CHANNEL="${EMAIL_CHANNEL:-log}"
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:55432/commsvc}"
cd "$(dirname "$0")/.."
api="http://127.0.0.1:${HTTP_PORT:-8004}"
bootstrap_file=.commsvc/kafka-bootstrap

# Wait until the service is up: broker address written, /health answering.
for _ in $(seq 1 150); do
  if [[ -s "$bootstrap_file" ]] && curl -sf -m 2 "$api/health" >/dev/null; then break; fi
  sleep 0.2
done
bootstrap="$(cat "$bootstrap_file")"

created="$(curl -sf -m 10 -X POST "$api/api/emails" -H 'Content-Type: application/json' -d '{
  "betreff": "Willkommen bei der Therapieplatzvermittlung",
  "empfaenger_email": "patient@example.org", "empfaenger_name": "Erika Mustermann",
  "patient_id": 42, "status": "In_Warteschlange",
  "inhalt_markdown": "# Guten Tag!\n\nIhre Anfrage ist **eingegangen**: https://example.org"}')"
id="$(sed -E 's/.*"id":([0-9]+).*/\1/' <<<"$created")"
echo "demo: POST /api/emails created email $id (In_Warteschlange); sending communication.send_email"
build/bin/commsvc produce -c pipelines.yaml --type communication.send_email \
  --key "$id" --payload "{\"email_id\": $id}" >/dev/null

for _ in $(seq 1 100); do
  status="$(curl -sf -m 2 "$api/api/emails/$id" | sed -E 's/.*"status":"([A-Za-z_]+)".*/\1/')"
  [[ "$status" == "Gesendet" ]] && break
  sleep 0.2
done
echo "demo: GET /api/emails/$id says '$status'; its events on communication-events:"
sleep 0.5
timeout 20 kcat -C -b "$bootstrap" -t communication-events -o beginning -e -q -f '%k %s\n' \
  | grep "^$id " | grep -E '"(communication.email_created|email.sent)"' \
  || echo "demo: no events seen (yet)"
