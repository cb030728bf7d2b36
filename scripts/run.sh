#!/usr/bin/env bash
# Builds commsvc and runs the service with embedded defaults: a local
# PostgreSQL (scripts/dev-postgres.sh, unless DATABASE_URL is set), an
# embedded Kafka broker inside the process (address written to
# .commsvc/kafka-bootstrap) and the log channel, so nothing else has to be
# installed or started. Once it is up, scripts/demo-email.sh puts one email
# through it (DEMO=0 skips that). Stop with Ctrl-C.
# pipelines.yaml is the production file and has no silent defaults for
# these; this script asks for the embedded broker and the log channel
# explicitly. Any pipelines.yaml variable can be set in the environment, e.g.
#   KAFKA_BROKERS=kafka1:9092 EMAIL_CHANNEL=smtp SMTP_HOST=mail.example.org scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export KAFKA_BROKERS="${KAFKA_BROKERS:-embedded}"
export EMAIL_CHANNEL="${EMAIL_CHANNEL:-log}"
scripts/build.sh
if [[ -z "${DATABASE_URL:-}" ]]; then
  DATABASE_URL="$(scripts/dev-postgres.sh | tail -n 1)"
  export DATABASE_URL
fi
rm -f .commsvc/kafka-bootstrap
# The service runs in its own process group, so Ctrl-C in this terminal
# reaches only this script, which passes on exactly one SIGTERM: the
# service drains gracefully (a second signal would make it exit at once).
set -m
build/bin/commsvc run -c pipelines.yaml "$@" &
service=$!
set +m
stopping=0
stop() {
  if [[ $stopping == 0 ]]; then
    stopping=1
    echo "run.sh: stopping the service gracefully (SIGTERM)" >&2
    kill -TERM "$service" 2>/dev/null || true
  fi
}
trap stop INT TERM
if [[ "${DEMO:-1}" == 1 ]]; then
  scripts/demo-email.sh || echo "demo failed; the service keeps running" >&2
fi
# wait returns early when a trapped signal arrives: wait again until it exits.
while :; do
  status=0
  wait "$service" || status=$?
  kill -0 "$service" 2>/dev/null || break
done
exit "$status"
