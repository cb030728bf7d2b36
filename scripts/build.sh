#!/usr/bin/env bash
# Configures (once) and builds commsvc with a CMake preset: `default` into
# build/ (the default), or `debug` (AddressSanitizer + UBSan) into
# build-debug/. Further arguments are build targets (all by default), e.g.
#   scripts/build.sh debug tests/unit/all
# Installs the Debian packages it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
[ $# -eq 0 ] || shift
case "$preset" in
  default) dir=build ;;
  debug) dir=build-debug ;;
  *) echo "usage: $0 [default|debug] [target...]" >&2; exit 2 ;;
esac
# ccache keyed on paths relative to the checkout, so a fresh clone in
# another directory (CI) reuses what any earlier build compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
targets=()
[ $# -eq 0 ] || targets=(--target "$@")
scripts/install-deps.sh
[ -f "$dir/build.ninja" ] || cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
