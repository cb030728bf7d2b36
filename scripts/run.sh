#!/usr/bin/env bash
# Builds commsvc and runs the service with embedded defaults: a local
# PostgreSQL (scripts/dev-postgres.sh, unless DATABASE_URL is set), an
# embedded Kafka broker inside the process (address written to
# .commsvc/kafka-bootstrap) and the log channel, so nothing else has to be
# installed or started. Once it is up, scripts/demo-email.sh puts one email
# through it (DEMO=0 skips that). Stop with Ctrl-C.
# Any pipelines.yaml variable can be set in the environment, e.g.
#   KAFKA_BROKERS=kafka1:9092 EMAIL_CHANNEL=smtp SMTP_HOST=mail.example.org scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
if [[ -z "${DATABASE_URL:-}" ]]; then
  DATABASE_URL="$(scripts/dev-postgres.sh | tail -n 1)"
  export DATABASE_URL
fi
rm -f .commsvc/kafka-bootstrap
build/bin/commsvc run -c pipelines.yaml "$@" &
service=$!
trap 'kill -TERM "$service" 2>/dev/null || true' INT TERM
if [[ "${DEMO:-1}" == 1 ]]; then
  scripts/demo-email.sh || echo "demo failed; the service keeps running" >&2
fi
wait "$service"
