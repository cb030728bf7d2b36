#!/usr/bin/env bash
# Builds commsvc and runs the service with embedded defaults: an embedded
# Kafka broker inside the process (address written to .commsvc/kafka-bootstrap)
# and the log channel, so nothing else has to be installed or started.
# Any pipelines.yaml variable can be set in the environment, e.g.
#   KAFKA_BROKERS=kafka1:9092 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/bin/commsvc run -c pipelines.yaml "$@"
