#!/usr/bin/env bash
# Usage: verify-unit.sh SYSTEMD_ANALYZE UNIT_FILE
# 1. `systemd-analyze verify`: it exits 0 on unknown keys and bad values
#    (it only warns), so any output at all is a failure here.
# 2. `systemd-analyze security --offline`: the unit's exposure level stays at
#    2.0 or below (it is 1.4: "OK"), so a hardening option dropped by mistake
#    fails here.
set -uo pipefail
analyze="$1"
unit="$2"
out="$("$analyze" verify --man=no "$unit" 2>&1)"
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out"
  echo "systemd-analyze verify $unit: exit $rc" >&2
  exit 1
fi
echo "systemd-analyze verify $unit: ok"
out="$("$analyze" security --offline=true --threshold=20 --no-pager "$unit" 2>&1)"
rc=$?
if [ "$rc" -ne 0 ]; then
  printf '%s\n' "$out"
  echo "systemd-analyze security $unit: exposure above 2.0 (exit $rc)" >&2
  exit 1
fi
printf '%s\n' "$out" | tail -n 1
