#!/usr/bin/env bash
# Installs the Debian packages secmsg needs to build, test, fuzz and benchmark.
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

pkgs=(
  build-essential pkg-config meson ninja-build python3
  libsodium-dev libprotobuf-c-dev protobuf-c-compiler
  libsqlcipher-dev libzstd-dev
  libmicrohttpd-dev libgnutls28-dev libinih-dev libcurl4-openssl-dev openssl
  libcriterion-dev libjansson-dev
  libqrencode-dev
  clang libclang-rt-14-dev
  libsignal-protocol-c-dev libolm-dev libssl-dev
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
