#!/usr/bin/env bash
# Configures (once) and builds commsvc into build/ with the default preset.
# Installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -f build/build.ninja ] || cmake --preset default
cmake --build --preset default -j "$(nproc)"
