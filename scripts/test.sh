#!/usr/bin/env bash
# Every check and every test, as CI runs them. Run as root so the
# network-namespace tests run (without root they are skipped with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "== fmt";    cargo fmt --all -- --check
echo "== clippy"; cargo clippy --all-targets --features ffi -- -D warnings
echo "== no_std"; cargo build --no-default-features --features ffi --lib
echo "== daemon without the C ABI"   # the default (daemon) build does not turn on `ffi`
if cargo tree -e features -i mqtt-vpn | grep -q 'feature "ffi"'; then
  echo "the default build enables the ffi feature" >&2; exit 1
fi
echo "== header"; cargo build --lib && git diff --exit-code include/  # build.rs regenerated include/mqttif.h
echo "== riscv32"
if rustup target add riscv32imc-unknown-none-elf >/dev/null 2>&1; then
  bash scripts/build-riscv32.sh
else
  echo "SKIPPED riscv32: rustup cannot install the riscv32imc-unknown-none-elf target here"
fi
echo "== esp8266"; bash scripts/build-esp8266.sh   # SKIPPED only where rustup cannot fetch rust-src
esp8266_archive=arduino/mqtt_vpn_arduino/src/esp8266/libmqttvpn.a
echo "== lx106"   # the archive's checks, run on an emulated ESP8266 CPU
if [[ -f $esp8266_archive ]]; then
  bash scripts/test-lx106.sh "$esp8266_archive"
else
  echo "SKIPPED lx106: no ESP8266 archive was built (see the esp8266 step)"
fi
echo "== esp32";  bash scripts/build-esp32.sh
echo "== esp8266 core"   # the sketches linked against the real ESP8266 Arduino core
if [[ -n ${ESP8266_CORE:-} && -n ${NEWLIB_SRC:-} ]]; then
  # Only this step needs the C++ headers (and gcc's source, which the
  # script fetches with apt-get download when it must build libstdc++).
  dpkg-query -W libstdc++-arm-none-eabi-dev >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libstdc++-arm-none-eabi-dev >/dev/null
  bash scripts/check-esp8266-core.sh "$ESP8266_CORE"
else
  echo "SKIPPED esp8266 core: ESP8266_CORE and NEWLIB_SRC must name checkouts of github.com/esp8266/Arduino and earlephilhower/newlib-xtensa (in no package registry, so CI cannot fetch them)"
fi
echo "== test";   cargo test --all-targets --features ffi --no-fail-fast
echo "== release"  # the aarch64 static binary and arm64 .deb, proven under qemu-user
bash scripts/ci-release.sh "${CARGO_TARGET_DIR:-target}/debug/mqtt_vpn"
echo "== doc";    cargo test --doc --features ffi
echo "== fuzz";   bash scripts/fuzz.sh 15     # every fuzz target for 15 s; the long runs are in fuzz/README.md
echo "== soak"    # two minutes of the 30-minute soak: RSS and fds must stay flat
if [[ $(id -u) == 0 ]]; then
  bash bench/soak.sh --duration 120 --warmup 60 --node "${CARGO_TARGET_DIR:-target}/debug/mqtt_vpn"
else
  echo "SKIPPED soak: needs root (network namespaces, TUN)"
fi
echo "== zip"     # the committed Arduino zip was made from this tree
bash scripts/package-arduino.sh --check
