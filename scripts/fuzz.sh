#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (clang, AddressSanitizer + UBSan),
# one after another, each for SECONDS (default 600), then merges the inputs
# that found new coverage into tests/fuzz/corpus/<target>/ (minimised).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # targets: all by default
#   scripts/fuzz.sh 60 markdown mime
#
# Builds into build-fuzz/ (-DCOMMSVC_FUZZ=ON, clang), keeps every input found
# in build-fuzz/fuzz-corpus/<target>/ between runs. Installs clang and
# libFuzzer when missing. A crash, an invariant failure, a slow input (over
# the target's -timeout) or an out-of-memory is written to
# $FUZZ_FINDINGS/<target>/ (default build-fuzz/findings): once fixed, copy
# the input to tests/fuzz/crashes/<target>/, where ctest -L fuzz replays it
# in every build. Prints seconds, executions and corpus size per target;
# exits 1 when anything was found.
#
# Environment: FUZZ_JOBS (compile jobs, default 2), FUZZ_NICE (niceness of
# compiles and fuzzers, default 10), FUZZ_FINDINGS, FUZZ_NO_MERGE=1 (leave
# the corpus alone), FUZZ_RSS_MB (default 1536).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-600}
[ $# -eq 0 ] || shift
all_targets=(envelope email_api phonecall_api http_route markdown html_text mime smtp_reply pipeline_config)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

jobs=${FUZZ_JOBS:-2}
niceness=${FUZZ_NICE:-10}
rss_mb=${FUZZ_RSS_MB:-1536}
build=build-fuzz
findings=${FUZZ_FINDINGS:-$root/$build/findings}
export CCACHE_NOHASHDIR=1

# Per target: largest input (bytes) and the per-input time limit (seconds).
# Markdown and HTML inputs get room for deep nesting: slow inputs are findings.
max_len() {
  case "$1" in
    envelope) echo 4096 ;;
    email_api) echo 16384 ;;
    phonecall_api) echo 2048 ;;
    http_route) echo 1024 ;;
    markdown | html_text) echo 65536 ;;
    mime) echo 16384 ;;
    pipeline_config) echo 4096 ;;
    *) echo 4096 ;;
  esac
}
timeout_s() {
  case "$1" in
    email_api | markdown | html_text) echo 3 ;;
    *) echo 2 ;;
  esac
}

# clang and libFuzzer (the Debian package matching clang's major version).
if ! command -v clang++ >/dev/null; then
  apt-get update -qq && apt-get install -y -qq clang >/dev/null
fi
clang_major=$(clang++ -dumpversion | cut -d. -f1)
if ! dpkg-query -W -f='${Status}' "libfuzzer-${clang_major}-dev" 2>/dev/null |
  grep -q "install ok installed"; then
  apt-get install -y -qq "libfuzzer-${clang_major}-dev" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq "libfuzzer-${clang_major}-dev" >/dev/null; }
fi
scripts/install-deps.sh >/dev/null

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DCOMMSVC_FUZZ=ON >/dev/null
fi
exes=()
for t in "${targets[@]}"; do exes+=("${t}_fuzz"); done
nice -n "$niceness" ninja -C "$build" -j "$jobs" "${exes[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

summary=()
found=0
for t in "${targets[@]}"; do
  exe=$root/$build/tests/fuzz/${t}_fuzz
  corpus=$root/tests/fuzz/corpus/$t
  full=$root/$build/fuzz-corpus/$t  # every input found, kept between runs
  work=$root/$build/fuzz-work/$t
  mkdir -p "$corpus" "$full" "$findings/$t"
  rm -rf "$work" && mkdir -p "$work"
  len=$(max_len "$t")
  limit=$(timeout_s "$t")
  echo "== fuzz $t: ${seconds}s, -max_len=$len -timeout=$limit -rss_limit_mb=$rss_mb"
  status=0
  started=$SECONDS
  # New inputs go to $full (the first directory); the committed corpus
  # only seeds the run.
  nice -n "$niceness" "$exe" -max_total_time="$seconds" -timeout="$limit" \
    -rss_limit_mb="$rss_mb" -max_len="$len" -print_final_stats=1 \
    -artifact_prefix="$findings/$t/" "$full" "$corpus" >"$work/log" 2>&1 || status=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$' |
    tail -1 || true)
  ran=$((SECONDS - started))
  result=ok
  if [ "$status" -ne 0 ]; then
    result="FOUND (exit $status): $(ls -t "$findings/$t" | head -1)"
    found=1
    grep -E 'ERROR:|SUMMARY:|invariant violated|ALARM|Slowest|#[0-9]+ +0x' "$work/log" |
      head -30 || true
    echo "   log: $work/log"
  fi

  # Merge what added coverage back, minimised: the hand-written seeds
  # (seed-*) stay; every other file is replaced by a minimal set covering
  # the edges of the committed corpus plus everything found (hit counts
  # ignored, -use_counters=0, which keeps the committed corpus small).
  if [ "${FUZZ_NO_MERGE:-0}" != 1 ]; then
    mkdir -p "$work/min"
    if nice -n "$niceness" "$exe" -merge=1 -use_counters=0 -timeout="$limit" \
      -rss_limit_mb="$rss_mb" -max_len="$len" "$work/min" "$corpus" "$full" \
      >"$work/merge.log" 2>&1; then
      seeds=$(find "$corpus" -maxdepth 1 -type f -name 'seed-*' -exec sha1sum {} + |
        cut -d' ' -f1 | sort -u)
      find "$corpus" -maxdepth 1 -type f ! -name 'seed-*' -delete
      for f in "$work/min"/*; do
        [ -e "$f" ] || continue
        grep -qx "$(basename "$f")" <<<"$seeds" || cp "$f" "$corpus/"
      done
    else
      echo "   merge failed (corpus left as it was): $work/merge.log"
    fi
  fi
  files=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  kb=$(du -sk "$corpus" | cut -f1)
  summary+=("$(printf '%-16s %6ss %12s execs  corpus %4s files %6s KB  %s' \
    "$t" "${ran:-?}" "${execs:-?}" "$files" "$kb" "$result")")
done

echo
echo "fuzz summary (target, seconds run, executions, corpus, result):"
printf '  %s\n' "${summary[@]}"
[ "$found" -eq 0 ] || echo "findings in $findings/<target>/ (replay: build-fuzz/tests/fuzz/<target>_fuzz FILE)"
exit "$found"
