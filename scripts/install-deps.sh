#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmarks need on a Debian
# machine, and only what is missing. Run as root.
set -euo pipefail

packages=(gcc g++ libc6-dev mosquitto mosquitto-clients iproute2 iputils-ping iperf3 liblwip-dev valgrind curl netcat-openbsd procps openssl util-linux python3 jq zip unzip gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf qemu-system-misc qemu-user make xz-utils python3-venv systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
