#!/usr/bin/env bash
# Builds the embedded static library (no_std + alloc) for a RISC-V ESP chip
# with the stock Rust toolchain and prints the size of the archive: the sum
# over all its members (core, alloc and compiler_builtins included, before
# the linker drops what is unused) and over the crate's own members.
#
# usage: scripts/build-riscv32.sh          (TARGET=riscv32imc-unknown-none-elf)
#        TARGET=riscv32imac-unknown-none-elf scripts/build-riscv32.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=${TARGET:-riscv32imc-unknown-none-elf}
target_dir=${CARGO_TARGET_DIR:-target}

rustup target add "$target" >/dev/null
cargo build --release --no-default-features --features ffi --lib --target "$target"

archive=$target_dir/$target/release/libmqttvpn.a
# GNU size (binutils) reads RISC-V ELF members; llvm-size if it is not there.
size_tool=size
command -v size >/dev/null || size_tool=llvm-size
echo "$archive: $(stat -c %s "$archive") bytes on disk"
"$size_tool" "$archive" | awk -v target="$target" '
  NR > 1 { t += $1; d += $2; b += $3
           if ($6 ~ /^mqttvpn-/) { ot += $1; od += $2; ob += $3 } }
  END { printf "%s all members:  text %d  data %d  bss %d\n", target, t, d, b
        printf "%s mqttvpn only:  text %d  data %d  bss %d\n", target, ot, od, ob }'
