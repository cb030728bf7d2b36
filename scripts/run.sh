#!/usr/bin/env bash
# Builds commsvc and runs the service with embedded defaults: a local
# PostgreSQL (scripts/dev-postgres.sh, unless DATABASE_URL is set), an
# embedded Kafka broker inside the process (address written to
# .commsvc/kafka-bootstrap) and the log channel, so nothing else has to be
# installed or started. Any pipelines.yaml variable can be set in the
# environment, e.g.  KAFKA_BROKERS=kafka1:9092 EMAIL_CHANNEL=smtp scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
if [[ -z "${DATABASE_URL:-}" ]]; then
  DATABASE_URL="$(scripts/dev-postgres.sh | tail -n 1)"
  export DATABASE_URL
fi
exec build/bin/commsvc run -c pipelines.yaml "$@"
