#!/usr/bin/env bash
# The installed SDK works from outside the repository:
#   tests/install/example_webhook_test.sh [BUILD_DIR]   (default: build)
# installs BUILD_DIR (what its default build made; nothing is rebuilt) into a
# temporary prefix, builds a copy of examples/channel-webhook against it with
# find_package(commsvc), runs the example's unit test, checks that the
# installed binary lists example-webhook and its options next to its own
# plugins (--plugin-dir adds a directory), validates the example pipeline,
# and runs it: a message reaches a test HTTP server
# (example_webhook_delivery.sh: PostgreSQL, embedded Kafka, the HTTP sink).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$src/build}" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== install $build into $tmp/p"
cmake --install "$build" --prefix "$tmp/p" >"$tmp/install.log"
cp -r "$src/examples/channel-webhook" "$tmp/example"
cd "$tmp/example"
# ccache keyed on paths relative to the copy: later runs reuse the objects.
export CCACHE_BASEDIR="$tmp/example" CCACHE_NOHASHDIR=1
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
echo "== build the example out of tree"
cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH="$tmp/p" "${launcher[@]}" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure

echo "== the installed binary lists it"
out="$("$tmp/p/bin/commsvc" plugins --plugin-dir build)"
fail=0
for expected in "channel 'example-webhook'" "url (string, default (required))" \
  "timeout_ms (integer" "channel 'smtp'"; do
  grep -qF "$expected" <<<"$out" || { echo "FAIL: '$expected' not listed"; fail=1; }
done
echo "== the example pipeline is valid (engine.plugin_dir: build, relative to the file)"
env WEBHOOK_URL=http://127.0.0.1:1/hook DATABASE_URL=postgresql://nobody@127.0.0.1:1/x \
  KAFKA_BROKERS=embedded "$tmp/p/bin/commsvc" validate -c "$tmp/example/pipeline.yaml" || fail=1
[ "$fail" = 0 ] || { echo "$out"; exit 1; }
echo "== a pipeline using it delivers to a test HTTP server"
"$src/tests/install/example_webhook_delivery.sh" "$tmp/p" "$tmp/example"
echo "example-webhook: built out of tree, tested, listed, valid and delivering"
