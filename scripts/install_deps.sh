#!/usr/bin/env bash
# Installs everything kiln needs to build and test on Debian 12 (idempotent).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="g++ clang libclang-rt-14-dev cmake ninja-build nlohmann-json3-dev libcli11-dev
      libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev libreadline-dev libboost-dev
      libssl-dev openssl libcurl4-openssl-dev libzmq3-dev libmsgpack-cxx-dev python3
      python3-pip unzip"
missing=$(dpkg-query -W -f='${Status} ${Package}\n' $PKGS 2>/dev/null | grep -vc "install ok installed" || true)
if [ "$missing" != "0" ] || ! dpkg-query -W $PKGS >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PKGS >/dev/null
fi
python3 -m pip install -q -r "$(dirname "$0")/../tests/requirements.txt"
