#!/usr/bin/env bash
# Installs the Debian packages needed to build, test and run commsvc.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache clang-format
  librdkafka-dev kcat
  libpqxx-dev postgresql-15
  libyaml-cpp-dev libspdlog-dev libfmt-dev
  libboost-dev libboost-filesystem-dev
  libgtest-dev libgmock-dev
  libcurl4-openssl-dev nettle-dev
  nlohmann-json3-dev libsimdjson-dev
  libcli11-dev
  prometheus-cpp-dev
  libcmark-gfm-dev libcmark-gfm-extensions-dev
  libhowardhinnant-date-dev tzdata
  python3-aiosmtpd swaks curl openssl
  # promtool, for packaging/prometheus/commsvc-alerts.yaml (ctest -L packaging); the
  # package also enables a Prometheus server unit where systemd runs:
  # `systemctl disable --now prometheus` if unwanted.
  prometheus
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
