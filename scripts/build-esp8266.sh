#!/usr/bin/env bash
# Builds libmqttvpn.a for the ESP8266 with stock tools: rustup's nightly
# (its LLVM has the Xtensa backend), the target spec in targets/, and
# Debian's binutils-xtensa-lx106. Writes
# arduino/mqtt_vpn_arduino/src/esp8266/libmqttvpn.a.
#
# The archive holds one object: the whole Rust library (crate, dependencies,
# core, alloc) as one LTO module, emitted as assembly by rustc and assembled
# by GNU as after scripts/xtensa_asm.py has placed each literal pool in its
# function's section and moved code to flash (.irom0.text). compiler_builtins
# is left out: every helper the code calls is in libgcc or the chip's ROM,
# which every ESP8266 link has (checked below); a flash copy of a ROM helper
# would also capture calls from the core's IRAM code. Panics abort (`-C panic=immediate-abort`): no
# panic messages, locations or formatting machinery in the device build.
#
# Checks (any failure exits non-zero): no code outside .irom0.text; every
# l32r reads an aligned literal in its own section; only jump tables moved
# to flash among the read-only data; every undefined symbol is one the
# ESP8266 core provides (libgcc, the C library) or the port.
#
# usage: scripts/build-esp8266.sh [OUTPUT.a]
# Prints "SKIPPED esp8266: <reason>" and exits 0 only when rustup cannot
# install rust-src for the nightly toolchain.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-arduino/mqtt_vpn_arduino/src/esp8266/libmqttvpn.a}
spec=targets/xtensa-esp8266-none-elf.json
name=xtensa-esp8266-none-elf
target_dir=${CARGO_TARGET_DIR:-$root/target}
work=$target_dir/esp8266
toolchain=${MQTT_VPN_NIGHTLY:-nightly}

for tool in as ar nm objdump readelf strip size; do
  command -v "xtensa-lx106-elf-$tool" >/dev/null || {
    echo "build-esp8266: xtensa-lx106-elf-$tool missing: apt-get install binutils-xtensa-lx106" >&2
    exit 1
  }
done
rustup toolchain list | grep -q "^$toolchain" || rustup toolchain install "$toolchain" --profile minimal
if ! rustup component list --installed --toolchain "$toolchain" 2>/dev/null | grep -q '^rust-src' &&
   ! reason=$(rustup component add rust-src --toolchain "$toolchain" 2>&1); then
  echo "SKIPPED esp8266: rustup cannot install rust-src for $toolchain: $reason"
  exit 0
fi

echo "== esp8266: rustc $(rustc +"$toolchain" --version)"
# RUSTFLAGS only reach the target crates (a --target build): the host
# build script is unaffected.
build() {
  CARGO_PROFILE_EMBEDDED_OPT_LEVEL=$1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
    cargo +"$toolchain" rustc -Z json-target-spec -Z build-std=core,alloc \
      --profile embedded --no-default-features --features ffi --lib --crate-type staticlib \
      --target "$spec" --target-dir "$target_dir" -- --emit=asm,link
}
# LLVM's Xtensa backend reserves an emergency spill slot only for frames of
# 2 KiB and more, yet s8i/l8ui reach only 255 bytes into a frame: a function
# with a frame between the two can fail with "Cannot scavenge register
# without an emergency spill slot", depending on inlining. opt-level s is
# tried first (smallest code); 2 inlines differently and is the fallback.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! build s 2>&1 | tee "$log"; then
  grep -q 'Cannot scavenge register' "$log" || exit 1
  echo "build-esp8266: LLVM's Xtensa register scavenger failed at opt-level s; building at opt-level 2"
  build 2
fi

built=$target_dir/$name/embedded/libmqttvpn.a
# The crate's member is named <crate>-<hash>.<crate>.<cgu>.rcgu.o; its
# assembly is deps/<crate>-<hash>.s from the same rustc run.
member=$(xtensa-lx106-elf-ar t "$built" | grep '^mqttvpn-')
asm=$target_dir/$name/embedded/deps/${member%%.*}.s
[[ $(xtensa-lx106-elf-ar t "$built" | grep -vc '^compiler_builtins-') == 1 && -f $asm ]] || {
  echo "build-esp8266: expected one LTO object and $asm" >&2; exit 1; }

rm -rf "$work" && mkdir -p "$work"
python3 scripts/xtensa_asm.py "$asm" "$work/mqttvpn.s"
as_flags=(--text-section-literals)
grep -q '^\s*\.loc\s' "$work/mqttvpn.s" && as_flags+=(--gdwarf-5)
xtensa-lx106-elf-as "${as_flags[@]}" -o "$work/mqttvpn.o" "$work/mqttvpn.s"
xtensa-lx106-elf-strip --strip-debug "$work/mqttvpn.o"
python3 scripts/xtensa_asm.py --check "$work/mqttvpn.o"

# Undefined symbols: libgcc's helpers, the ROM's arithmetic helpers (the
# core's eagle.rom.addr.v6.ld maps them to the mask ROM, and Debian's
# lx106 libgcc leaves them out for that reason) and the C library.
libgcc=$(xtensa-lx106-elf-gcc -print-libgcc-file-name 2>/dev/null || true)
rom="__divsi3 __modsi3 __udivsi3 __umodsi3 __muldi3 __divdi3 __moddi3 __udivdi3 __umoddi3"
c_library="abort calloc free malloc memcmp memcpy memmove memset strlen"
unknown=()
for sym in $(xtensa-lx106-elf-nm -u "$work/mqttvpn.o" | awk '{print $2}'); do
  [[ " $c_library $rom " == *" $sym "* ]] && continue
  if [[ $sym == __* && -n $libgcc && -f $libgcc ]] &&
     xtensa-lx106-elf-nm --defined-only "$libgcc" 2>/dev/null | grep -q " T $sym\$"; then
    continue
  fi
  [[ $sym == mqtt_vpn_* ]] && continue   # supplied by the port
  unknown+=("$sym")
done
if ((${#unknown[@]})); then
  echo "build-esp8266: undefined symbols neither libgcc nor the C library provide: ${unknown[*]}" >&2
  exit 1
fi

mkdir -p "$(dirname "$out")"
rm -f "$out"
xtensa-lx106-elf-ar rcsD "$out" "$work/mqttvpn.o"
# DRAM is what a sketch lives on (80 KB, WiFi included): the library's
# share, counted before the linker drops anything, stays within 4 KB.
dram=$(xtensa-lx106-elf-size -A "$work/mqttvpn.o" | awk '$1 ~ /^\.(rodata|data|bss)/ { n += $2 } END { print n + 0 }')
if ((dram > 4096)); then
  echo "build-esp8266: the library would take $dram bytes of DRAM (.rodata, .data, .bss); the budget is 4096" >&2
  exit 1
fi
xtensa-lx106-elf-size -A "$work/mqttvpn.o" | awk '
  $1 ~ /^\.irom0/ { flash += $2 } $1 ~ /^\.rodata/ { rodata += $2 }
  $1 ~ /^\.(data|bss)/ { ram += $2 }
  END { printf "esp8266 archive: flash (code, literals, jump tables) %d B, DRAM read-only %d B, .data+.bss %d B (before --gc-sections)\n", flash, rodata, ram }'
echo "wrote $out ($(stat -c %s "$out") bytes)"
