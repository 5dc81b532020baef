#!/usr/bin/env bash
# Runs libmqttvpn.a on an emulated ESP8266 CPU: links the test image of
# tests/lx106 (wire v1/v2 vectors and a whole MQTT session through the C
# ABI, heap and stack figures) with the archive and Debian's lx106 gcc and
# picolibc, and runs it under QEMU's lx106 sim machine with semihosting.
# Exits with the image's status: 0 only if every check passed.
#
# usage: scripts/test-lx106.sh [ARCHIVE]
#   ARCHIVE defaults to ${CARGO_TARGET_DIR:-target}/esp8266/libmqttvpn.a,
#   built with scripts/build-esp8266.sh if it does not exist.
# environment:
#   HEAP_LIMIT   most heap bytes one interface may peak at (image default 8192)
#   STACK_SIZE   bytes reserved for the stack (default 16384)
#   LX106_TIMEOUT  seconds QEMU may run (default 600)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
archive=${1:-$target_dir/esp8266/libmqttvpn.a}
out=$target_dir/lx106
specs=/usr/lib/xtensa-lx106-elf/picolibc.specs

# Every tool is needed: a missing one fails the run rather than skipping it.
missing=()
command -v qemu-system-xtensa >/dev/null || missing+=("qemu-system-xtensa (apt-get install qemu-system-misc)")
command -v xtensa-lx106-elf-gcc >/dev/null || missing+=("xtensa-lx106-elf-gcc (apt-get install gcc-xtensa-lx106)")
command -v xtensa-lx106-elf-size >/dev/null || missing+=("xtensa-lx106-elf-size (apt-get install binutils-xtensa-lx106)")
[[ -f $specs ]] || missing+=("$specs (apt-get install picolibc-xtensa-lx106-elf)")
command -v python3 >/dev/null || missing+=("python3 (apt-get install python3)")
if ((${#missing[@]})); then
  printf 'test-lx106: missing %s\n' "${missing[@]}" >&2
  exit 1
fi

if [[ ! -f $archive ]]; then
  echo "== lx106: $archive missing, building it"
  bash scripts/build-esp8266.sh "$archive"
  [[ -f $archive ]] || { echo "test-lx106: no archive at $archive" >&2; exit 1; }
fi

mkdir -p "$out"
python3 tests/lx106/gen_vectors.py tests/data/wire-v1.json tests/data/wire-v2.json "$out/vectors.h"

defines=()
[[ -n ${HEAP_LIMIT:-} ]] && defines+=("-DHEAP_LIMIT=$HEAP_LIMIT")
# The library's malloc, calloc and free go through runtime.c's counting
# wrappers; the integer-only printf keeps soft float out of the image.
xtensa-lx106-elf-gcc --specs="$specs" -nostartfiles \
  -mlongcalls -mtext-section-literals -Os -g -std=gnu11 -Wall -Wextra \
  -ffunction-sections -fdata-sections \
  -Iinclude -I"$out" ${defines[@]+"${defines[@]}"} \
  -DPICOLIBC_INTEGER_PRINTF_SCANF \
  -T tests/lx106/lx106.ld \
  -Wl,--gc-sections -Wl,--no-warn-execstack -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=free \
  -Wl,--defsym=__stack_size="${STACK_SIZE:-16384}" \
  -Wl,-Map="$out/mqttvpn-lx106.map" \
  -o "$out/mqttvpn-lx106.elf" \
  tests/lx106/start.S tests/lx106/runtime.c tests/lx106/rom_arith.c \
  tests/lx106/main.c "$archive"

echo "== lx106: image sections ($out/mqttvpn-lx106.elf)"
xtensa-lx106-elf-size -A -d "$out/mqttvpn-lx106.elf" |
  awk '$1 ~ /^\.(reset|text|rodata|data|bss)$/ { printf "  %-8s %7d bytes at 0x%08x\n", $1, $2, $3 }'

# -icount shift=0: the CPU's clock counts instructions (one per virtual
# nanosecond), so the image's timings do not depend on the host's load.
echo "== lx106: qemu-system-xtensa -M sim -cpu lx106"
status=0
started=$(date +%s%N)
timeout "${LX106_TIMEOUT:-600}" qemu-system-xtensa -M sim -cpu lx106 -semihosting \
  -icount shift=0 -nographic -monitor none -kernel "$out/mqttvpn-lx106.elf" \
  </dev/null || status=$?
echo "== lx106: QEMU ran $(( ($(date +%s%N) - started) / 1000000 )) ms"
if ((status == 124)); then
  echo "test-lx106: QEMU did not finish within ${LX106_TIMEOUT:-600} s" >&2
elif ((status != 0)); then
  echo "test-lx106: the image exited with status $status" >&2
fi
exit "$status"
