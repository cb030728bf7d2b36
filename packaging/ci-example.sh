#!/usr/bin/env bash
# An example CI step for the repository where ops keep pipelines.yaml: check
# the file and run its pipeline tests with the commsvc binary they deploy,
# before anything reaches a server. Copy it and adjust the variables:
#
#   COMMSVC          the binary (default: commsvc on PATH; in a container
#                    job: the image's /usr/bin/commsvc)
#   PIPELINE         the pipeline file (default: pipelines.yaml)
#   EMAIL_CHANNELS   the EMAIL_CHANNEL values it is deployed with, each
#                    checked (default: smtp)
#   PIPELINE_TESTS   the pipeline test files, a glob (default:
#                    tests/pipelines/*.yaml; none found = step skipped)
#   ALERT_RULES      a modified copy of packaging/prometheus/commsvc-alerts.yaml
#                    to check with promtool, if any (its tests beside it as
#                    <name>.test.yaml)
#
# `commsvc validate` connects to nothing: the ${VARIABLES} without default
# (KAFKA_BROKERS, DATABASE_URL, EMAIL_CHANNEL) only need a value of the
# right shape, never a secret. Exit status: 0 when every check passed.
set -euo pipefail

COMMSVC="${COMMSVC:-commsvc}"
PIPELINE="${PIPELINE:-pipelines.yaml}"
EMAIL_CHANNELS="${EMAIL_CHANNELS:-smtp}"
PIPELINE_TESTS="${PIPELINE_TESTS-tests/pipelines/*.yaml}"
ALERT_RULES="${ALERT_RULES:-}"

export KAFKA_BROKERS="${KAFKA_BROKERS:-kafka-1.ci.invalid:9092}"
export DATABASE_URL="${DATABASE_URL:-postgresql://commsvc@db.ci.invalid:5432/commsvc}"

# 1. The file and its plugins, once per channel it is deployed with: every
#    problem is printed as file:line:column: path: message.
for channel in $EMAIL_CHANNELS; do
  echo "== commsvc validate -c $PIPELINE (EMAIL_CHANNEL=$channel)"
  EMAIL_CHANNEL="$channel" "$COMMSVC" validate -c "$PIPELINE"
done

# 2. Ops' pipeline tests (`commsvc test`: see the main README for the file format).
shopt -s nullglob
# shellcheck disable=SC2206  # the glob is meant to expand here
tests=($PIPELINE_TESTS)
if [ ${#tests[@]} -gt 0 ]; then
  echo "== commsvc test ${tests[*]}"
  "$COMMSVC" test "${tests[@]}"
else
  echo "== no pipeline tests (${PIPELINE_TESTS:-none asked for})"
fi

# 3. Alert rules ops changed (thresholds, labels): syntax and their tests.
if [ -n "$ALERT_RULES" ]; then
  echo "== promtool check rules $ALERT_RULES"
  promtool check rules "$ALERT_RULES"
  tests_file="${ALERT_RULES%.yaml}.test.yaml"
  if [ -f "$tests_file" ]; then
    echo "== promtool test rules $tests_file"
    promtool test rules "$tests_file"
  fi
fi
echo "== all checks passed"
