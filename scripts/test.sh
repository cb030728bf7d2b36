#!/usr/bin/env bash
# Builds commsvc and runs the whole test suite (unit, plugin and integration
# tests) through ctest. Integration tests start their own embedded Kafka
# broker processes and use kcat; nothing needs to be running beforehand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --preset default -j "$(nproc)" "$@"
