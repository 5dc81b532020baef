#!/usr/bin/env bash
# Builds libmqttvpn.a for the ESP8266 (xtensa-esp8266-none-elf) with the esp
# Rust toolchain, moves its code to flash, and puts it into the Arduino
# library. Needs `espup install` (the `esp` toolchain) and Debian's
# binutils-xtensa-lx106. NOT run in CI: the esp toolchain cannot be fetched
# on the CI machines; see arduino/mqtt_vpn_arduino/src/esp8266/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
target=xtensa-esp8266-none-elf
out=arduino/mqtt_vpn_arduino/src/esp8266/libmqttvpn.a

if ! rustup toolchain list | grep -q '^esp'; then
  echo "error: no 'esp' Rust toolchain: install it with 'cargo install espup && espup install'" >&2
  exit 1
fi
command -v xtensa-lx106-elf-objcopy >/dev/null || {
  echo "error: xtensa-lx106-elf-objcopy missing: apt-get install binutils-xtensa-lx106" >&2
  exit 1
}

# One code section per object, so the renaming below catches all code.
RUSTFLAGS="-Z function-sections=no -C panic=abort" \
  cargo +esp build --release --no-default-features --lib \
  -Z build-std=core,alloc --target "$target"

# The core's linker script sends .irom0.* of any object to flash; plain
# .text/.literal of an unlisted library would fill the 32 KB IRAM.
xtensa-lx106-elf-objcopy \
  --rename-section .text=.irom0.text \
  --rename-section .literal=.irom0.literal \
  --rename-section .rodata=.irom0.text \
  "target/$target/release/libmqttvpn.a" "$out"

if xtensa-lx106-elf-size -A "$out" | grep -Eq '^\.(text|literal) +[1-9]'; then
  echo "error: code left outside flash sections in $out" >&2
  exit 1
fi
xtensa-lx106-elf-size -t "$out" | tail -1
echo "wrote $out; now run scripts/package-arduino.sh"
