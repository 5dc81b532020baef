#!/usr/bin/env bash
# Builds the embedded library for the ESP32 (Xtensa LX6, windowed ABI) with
# rustup's nightly and targets/xtensa-esp32-none-elf.json, and prints its
# size. What this proves: the crate compiles for the ESP32's CPU and ABI
# (`entry`/`retw` code). What it does not: the objects come from LLVM's
# integrated assembler, whose literal pools GNU ld refuses ("l32r:
# misaligned literal target"); the fix used for the ESP8266 (assembling
# rustc's assembly with GNU as, scripts/build-esp8266.sh) needs an ESP32 GNU
# as, which no package registry here has. So the archive is NOT put into the
# Arduino library, and nothing of it has run.
#
# usage: scripts/build-esp32.sh
# Prints "SKIPPED esp32: <reason>" and exits 0 only when rustup cannot
# install rust-src for the nightly toolchain.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
toolchain=${MQTT_VPN_NIGHTLY:-nightly}
if ! rustup component list --installed --toolchain "$toolchain" 2>/dev/null | grep -q '^rust-src' &&
   ! reason=$(rustup component add rust-src --toolchain "$toolchain" 2>&1); then
  echo "SKIPPED esp32: rustup cannot install rust-src for $toolchain: $reason"
  exit 0
fi
build() {
  CARGO_PROFILE_EMBEDDED_OPT_LEVEL=$1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
    cargo +"$toolchain" build -Z json-target-spec -Z build-std=core,alloc \
      --profile embedded --no-default-features --features ffi --lib \
      --target targets/xtensa-esp32-none-elf.json --target-dir "$target_dir"
}
# The same LLVM register scavenger limit as in build-esp8266.sh.
build s || build 2
archive=$target_dir/xtensa-esp32-none-elf/embedded/libmqttvpn.a
llvm_size=$(find "$(rustc +"$toolchain" --print sysroot)" -name llvm-size -type f | head -1)
if [[ -n $llvm_size ]]; then
  "$llvm_size" "$archive" | awk 'NR > 1 && $6 ~ /^mqttvpn-/ { printf "esp32 archive, crate object: text %d data %d bss %d\n", $1, $2, $3 }'
fi
echo "built $archive ($(stat -c %s "$archive") bytes; not linkable with GNU ld, see the comment at the top)"
