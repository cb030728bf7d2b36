#!/usr/bin/env bash
# Builds commsvc and runs the whole test suite through ctest, twice:
#  1. everything (unit, plugin and integration tests) built with the default
#     preset (build/);
#  2. the unit and plugin tests (tests/unit, tests/plugins; not the
#     integration, fault or fuzz tests) built with the `debug` preset
#     (build-debug/: AddressSanitizer, LeakSanitizer and UBSan, every finding
#     fatal). SANITIZERS=0 skips this run.
# Arguments go to both ctest runs (e.g. -R Outbox). Integration tests start
# their own embedded Kafka broker processes and use kcat; tests that need
# PostgreSQL start their own throw-away server; nothing needs to be running
# beforehand. Exits non-zero when either run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
scripts/build.sh
ctest --preset default -j "$(nproc)" "$@" || status=$?
# The installed SDK from outside: examples/channel-webhook built against a
# `cmake --install build` prefix in a temporary directory (tests/install/).
tests/install/example_webhook_test.sh build || status=$?

if [ "${SANITIZERS:-1}" != 0 ]; then
  echo "== unit and plugin tests under AddressSanitizer + UBSan (build-debug/)"
  scripts/build.sh debug tests/unit/all tests/plugins/all
  # A finding fails its test: ASan and LSan end the process with an error,
  # UBSan is built with -fno-sanitize-recover=undefined (CMakePresets.json)
  # and halts too. The same options as the `debug` test preset (`ctest
  # --preset debug`, the whole build-debug/ tree); keep the two in step. The LSan
  # suppressions file is for leaks inside third-party libraries only, each
  # with its reason.
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  for dir in tests/unit tests/plugins; do
    ctest --test-dir "build-debug/$dir" -j "$(nproc)" --output-on-failure --timeout 600 \
      -LE 'faults|fuzz' "$@" || status=$?
  done
fi
exit "$status"
