#!/usr/bin/env bash
# Puts one email through a running service (scripts/run.sh): inserts a
# queued email into PostgreSQL, puts communication.send_email on the topic,
# and prints the email.sent event the service publishes once it is sent.
# Environment: DATABASE_URL (default: the local development PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
url="${DATABASE_URL:-postgresql://postgres@127.0.0.1:55432/commsvc}"
bootstrap_file=.commsvc/kafka-bootstrap

# Wait until the service is up: broker address written, migrations applied.
for _ in $(seq 1 150); do
  if [[ -s "$bootstrap_file" ]] &&
     psql "$url" -qtAX -c "SELECT 1 FROM communication_service.emails LIMIT 1" >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
bootstrap="$(cat "$bootstrap_file")"

# psql variables (:'name') are interpolated only in scripts read from stdin.
id="$(psql "$url" -qtAX -v ON_ERROR_STOP=1 \
  -v subject='Willkommen bei der Therapieplatzvermittlung' <<'SQL' | head -n 1
INSERT INTO communication_service.emails
  (patient_id, betreff, inhalt_html, inhalt_text, empfaenger_email, empfaenger_name,
   absender_email, absender_name, status, in_warteschlange_am)
VALUES (42, :'subject', '<p>Guten Tag!</p>', 'Guten Tag!', 'patient@example.org',
        'Erika Mustermann', 'info@example.org', 'Therapieplatzvermittlung',
        'In_Warteschlange', now())
RETURNING id;
SQL
)"
echo "demo: queued email $id; sending communication.send_email"
build/bin/commsvc produce -c pipelines.yaml --type communication.send_email \
  --key "$id" --payload "{\"email_id\": $id}" >/dev/null

for _ in $(seq 1 100); do
  status="$(psql "$url" -qtAX -c "SELECT status FROM communication_service.emails WHERE id = $id")"
  [[ "$status" == "Gesendet" ]] && break
  sleep 0.2
done
echo "demo: email $id is now '$status'; its email.sent event on communication-events:"
timeout 20 kcat -C -b "$bootstrap" -t communication-events -o beginning -e -q -f '%k %s\n' \
  | grep "\"email.sent\"" | grep "^$id " || echo "demo: no email.sent event seen (yet)"
