#!/usr/bin/env bash
# Checks the Arduino library against a checkout of the real ESP8266 Arduino
# core (github.com/esp8266/Arduino), with Debian's Xtensa toolchain.
#
#   scripts/check-esp8266-core.sh CORE_DIR
#
# For each lwIP variant (the board default "v2 Lower Memory", lm2f, and
# "v2 IPv6 Lower Memory", lm6f) and each example sketch it does what the
# Arduino IDE does for the generic ESP8266 board with its default menu
# options, with the recipes of the core's platform.txt and boards.txt
# (expanded by scripts/esp8266-core/arduino_props.py):
#   - the prebuild hooks (core_version.h, build.opt, Updater_Signing.h);
#   - compiles the core (cores/esp8266) into core.a;
#   - turns the .ino into a .cpp (#include <Arduino.h> and a #line first;
#     the IDE's generated prototypes are not emulated, so a sketch that uses
#     a function before defining it fails here);
#   - finds the libraries a sketch needs the IDE's way (preprocess, look up
#     the missing header, add the library, repeat), compiles them, the
#     sketch, and this library's sources (arduino/mqtt_vpn_arduino/src);
#   - the prelink hooks (the linker script) and the link recipe
#     (recipe.c.combine.pattern) with src/esp8266/libmqttvpn.a, as the IDE
#     links a precompiled=true library;
#   - the .bin (recipe.objcopy.hex.*: the core's elf2bin.py, sizes.py);
#   - IRAM, DRAM and flash use, and this library's share of them.
#
# The core's toolchain (tools/xtensa-lx106-elf, not in the core's
# repository) is stood in for by a directory in the cache: Debian's
# gcc-xtensa-lx106 binaries plus the search paths the core's toolchain has
# built in: newlib (headers, libc.a, libm.a; configured with the options of
# the core's toolchain build and built here from NEWLIB_SRC, the
# earlephilhower/newlib-xtensa source, branch xtensa-4_0_0-lock-arduino) and
# the C++ headers of Debian's libstdc++-arm-none-eabi-dev (GCC 12, the same
# version as Debian's Xtensa gcc; target-neutral apart from c++config.h).
# libstdc++.a is in the core's repository (tools/sdk/lib), but it is a large
# file that snapshots of the repository may lack; then the script builds
# one from the source of Debian's gcc-12-source package (libstdc++-v3's
# libsupc++ and src/, exceptions off, as the core's -fno-exceptions
# libstdc++.a).
#
# Environment:
#   NEWLIB_SRC        newlib-xtensa checkout (required to compile anything:
#                     the core's C library headers come from it)
#   GCC_SOURCE        gcc 12 source: a directory holding libstdc++-v3/, a
#                     gcc-*.tar.xz, or a gcc-12-source .deb (default:
#                     /usr/src/gcc-12 from the gcc-12-source package, else
#                     `apt-get download gcc-12-source` into the cache)
#   CXX_HEADERS       C++ headers (default /usr/include/newlib/c++/<version>)
#   LWIP_VARIANTS     lwIP menu options to check (default "lm2f lm6f")
#   SKETCHES          example names to check (default: all)
#   JOBS              parallel compiles (default 2)
#   REQUIRE_COMPLETE  1: exit 4 when a link cannot complete for missing inputs
#   CARGO_TARGET_DIR  the cache goes to ${CARGO_TARGET_DIR:-target}/esp8266-core
#
# Exit status: 0 every check passed; 1 a check failed (a source of this
# library or a sketch does not compile, a symbol of ours is unresolved, an
# image does not fit); 2 usage or a missing tool; 3 a required input is
# missing (NEWLIB_SRC): nothing could be compiled; 4 (only with
# REQUIRE_COMPLETE=1) a link could not complete for missing inputs. Without
# REQUIRE_COMPLETE a link that misses inputs other than ours is reported
# (what is missing, what uses it, the figures of the incomplete image) and
# does not fail the check.
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}
[[ $# -eq 1 && $1 != -h && $1 != --help ]] || usage

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helpers=$repo/scripts/esp8266-core
lib=$repo/arduino/mqtt_vpn_arduino
core=$(cd "$1" && pwd) || { echo "no such directory: $1" >&2; exit 2; }
target=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$target"
cache=$(cd "$target" && pwd)/esp8266-core
mkdir -p "$cache"
jobs_max=${JOBS:-2}
variants=(${LWIP_VARIANTS:-lm2f lm6f})
cross=xtensa-lx106-elf

say() { printf '%s\n' "$*"; }
hr() { say "------------------------------------------------------------------------"; }

# ---------------------------------------------------------------- inputs
for f in platform.txt boards.txt cores/esp8266/Arduino.h tools/sdk/ld/eagle.app.v6.common.ld.h; do
  [[ -f $core/$f ]] || { echo "$core is not an esp8266/Arduino checkout (no $f)" >&2; exit 2; }
done
for t in gcc g++ ar as nm objcopy readelf size; do
  command -v "$cross-$t" >/dev/null || { echo "missing $cross-$t: apt-get install gcc-xtensa-lx106" >&2; exit 2; }
done
for t in python3 make gcc; do
  command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }
done
gcc_version=$("$cross-gcc" -dumpversion)
if [[ -z ${CXX_HEADERS:-} ]]; then
  CXX_HEADERS=$(ls -d /usr/include/newlib/c++/"${gcc_version%%.*}".* 2>/dev/null | sort -V | tail -1 || true)
fi
if [[ -z $CXX_HEADERS || ! -f $CXX_HEADERS/cstdlib ]]; then
  echo "no C++ headers (want /usr/include/newlib/c++/${gcc_version%%.*}.*): apt-get install libstdc++-arm-none-eabi-dev" >&2
  exit 2
fi
cxx_target_dir=$CXX_HEADERS/arm-none-eabi

# An archive is usable if it is one (a snapshot may hold a Git LFS pointer
# or nothing in its place).
is_archive() { [[ -f $1 ]] && [[ $(head -c 8 "$1" 2>/dev/null) == '!<arch>' ]]; }

failures=()      # checks that failed: the script exits 1
declare -A core_missing link_incomplete dropped_all
missing=()       # inputs that are missing, with the consequence
fail() { failures+=("$*"); say "FAIL: $*"; }

if [[ -z ${NEWLIB_SRC:-} ]]; then
  hr
  say "NEWLIB_SRC is not set: nothing can be compiled or linked."
  say "Since core 3.0 the esp8266/Arduino repository has no C library: the"
  say "core's toolchain ships newlib (earlephilhower/newlib-xtensa, branch"
  say "xtensa-4_0_0-lock-arduino) with the ESP8266 additions every core file"
  say "needs (sys/pgmspace.h, the *_P string functions, the lx106 sys/config.h)."
  say "No Debian package has them (libnewlib-dev and picolibc lack them)."
  say "Without NEWLIB_SRC these steps cannot be done:"
  say "  - compiling any core, library or sketch source (Arduino.h includes"
  say "    <stdlib.h>, <string.h> and <pgmspace.h>, i.e. <sys/pgmspace.h>);"
  say "  - the link: -lc and -lm of recipe.c.combine.pattern (libc.a, libm.a);"
  say "  - hence the unresolved-symbol check and the size figures."
  say "Set NEWLIB_SRC to a checkout of that branch; it is built once into"
  say "$cache/newlib."
  exit 3
fi
NEWLIB_SRC=$(cd "$NEWLIB_SRC" && pwd)
[[ -f $NEWLIB_SRC/newlib/libc/include/sys/pgmspace.h ]] || {
  echo "NEWLIB_SRC=$NEWLIB_SRC is not newlib-xtensa (no newlib/libc/include/sys/pgmspace.h)" >&2; exit 2; }

# ---------------------------------------------------------------- newlib
# Configured as the core's toolchain build configures it
# (esp-quick-toolchain): nano formatted I/O, small reent, no supplied
# syscalls, optimised for space, -mlongcalls.
newlib_opts=(--with-newlib --enable-multilib --disable-newlib-io-c99-formats
  --disable-newlib-supplied-syscalls --enable-newlib-nano-formatted-io
  --enable-newlib-reent-small --enable-target-optspace --disable-option-checking
  --target=$cross --disable-shared)
newlib_cflags="-mlongcalls -Os -g -free -fipa-pta"
newlib_dir=$cache/newlib
# Debian's gcc searches picolibc's headers (/usr/lib/xtensa-lx106-elf/include)
# by default: every compile here uses -nostdinc and names gcc's own
# include folders instead.
gcc_inc=$("$cross-gcc" -print-file-name=include)
gcc_inc_fixed=$("$cross-gcc" -print-file-name=include-fixed)
newlib_cc="$cross-gcc -nostdinc -idirafter $gcc_inc -idirafter $gcc_inc_fixed"
# The cache key: the commit and local changes of a git checkout (so a fresh
# clone of the same commit reuses the build), else every file's size and date.
newlib_source_id() {
  if [[ $(git -C "$NEWLIB_SRC" rev-parse --show-toplevel 2>/dev/null) == "$NEWLIB_SRC" ]] &&
     git -C "$NEWLIB_SRC" rev-parse --verify -q HEAD 2>/dev/null; then
    git -C "$NEWLIB_SRC" diff HEAD 2>/dev/null | sha1sum
  else
    find "$NEWLIB_SRC" -path '*/.git' -prune -o -type f -printf '%P %s %T@\n' | sort
  fi
}
newlib_key=$( { echo "${newlib_opts[*]} $newlib_cflags $gcc_version $newlib_cc"; newlib_source_id; } | sha1sum | cut -d' ' -f1)
if [[ ! -f $newlib_dir/stamp || $(<"$newlib_dir/stamp") != "$newlib_key" ]]; then
  hr
  say "newlib: configuring and building $NEWLIB_SRC (once; log: $newlib_dir/build.log)"
  rm -rf "$newlib_dir"
  mkdir -p "$newlib_dir/build"
  if ! (cd "$newlib_dir/build" &&
        export CFLAGS_FOR_TARGET="$newlib_cflags" CXXFLAGS_FOR_TARGET="$newlib_cflags" &&
        "$NEWLIB_SRC/configure" --prefix="$newlib_dir/install" "${newlib_opts[@]}" CC_FOR_TARGET="$newlib_cc" &&
        make -j"$jobs_max" all-target-newlib &&
        make install-target-newlib) >"$newlib_dir/build.log" 2>&1; then
    tail -30 "$newlib_dir/build.log"
    echo "newlib build failed (log: $newlib_dir/build.log)" >&2
    exit 1
  fi
  echo "$newlib_key" >"$newlib_dir/stamp"
fi
newlib_inc=$newlib_dir/install/$cross/include
newlib_lib=$newlib_dir/install/$cross/lib
for f in "$newlib_inc/newlib.h" "$newlib_inc/_newlib_version.h" "$newlib_inc/sys/pgmspace.h" "$newlib_lib/libc.a" "$newlib_lib/libm.a"; do
  [[ -f $f ]] || { echo "newlib install lacks $f" >&2; exit 1; }
done

# ---------------------------------------------------------------- toolchain
# Stands in for the core's tools/xtensa-lx106-elf: bin/ (compilers whose
# built-in search paths are those of the core's toolchain: C++ headers,
# gcc's own, newlib; libraries: newlib, the libstdc++ built below) and
# include/ (the core's toolchain puts the lx106 HAL headers there; Debian
# has none, so it is empty).
tc=$cache/toolchain
stdcxx_dir=$cache/libstdcxx
mkdir -p "$tc/bin" "$tc/include" "$stdcxx_dir/lib"
write_if_changed() { # file content
  if [[ ! -f $1 || $(<"$1") != "$2" ]]; then printf '%s\n' "$2" >"$1"; fi
}
write_if_changed "$tc/bin/$cross-gcc" "#!/bin/sh
exec /usr/bin/$cross-gcc -nostdinc -isystem '$gcc_inc' -isystem '$gcc_inc_fixed' -isystem '$newlib_inc' \"\$@\" -L'$newlib_lib' -L'$stdcxx_dir/lib'"
write_if_changed "$tc/bin/$cross-g++" "#!/bin/sh
exec /usr/bin/$cross-g++ -nostdinc -isystem '$CXX_HEADERS' -isystem '$cxx_target_dir' -isystem '$CXX_HEADERS/backward' -isystem '$gcc_inc' -isystem '$gcc_inc_fixed' -isystem '$newlib_inc' \"\$@\" -L'$newlib_lib' -L'$stdcxx_dir/lib'"
chmod +x "$tc/bin/$cross-gcc" "$tc/bin/$cross-g++"
for t in ar as ld nm objcopy objdump readelf size strip ranlib addr2line c++filt; do
  ln -sfn "/usr/bin/$cross-$t" "$tc/bin/$cross-$t"
done
toolkey=$( { echo "$newlib_key"; cat "$tc/bin/$cross-gcc" "$tc/bin/$cross-g++"; ls -l --time-style=+%s "$cxx_target_dir/bits/c++config.h"; } | sha1sum | cut -d' ' -f1)

# ---------------------------------------------------------------- job pool
running=0
pool_wait() { # wait for a free slot
  while ((running >= jobs_max)); do
    wait -n 2>/dev/null || true
    running=$(jobs -rp | wc -l)
  done
}
pool_drain() { wait || true; running=0; }

# up_to_date OBJ CMDLINE: the object exists, was made by the same command,
# and is newer than every file its .d lists.
up_to_date() {
  local obj=$1 cmdline=$2 d deps
  [[ -f $obj && -f $obj.cmd ]] || return 1
  [[ $(<"$obj.cmd") == "$cmdline" ]] || return 1
  d=${obj%.o}.d
  [[ -f $d ]] || return 0
  deps=$(sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' -e 's/^[^:]*://' "$d")
  local f
  for f in $deps; do
    [[ -e $f && ! $f -nt $obj ]] || return 1
  done
  return 0
}

# run_compile OBJ CMD...: runs in the background; OBJ.failed marks failure.
run_compile() {
  local obj=$1; shift
  local cmdline
  cmdline="$toolkey $(printf '%q ' "$@")"
  if up_to_date "$obj" "$cmdline"; then
    rm -f "$obj.failed"
    return 0
  fi
  mkdir -p "$(dirname "$obj")"
  rm -f "$obj" "$obj.cmd" "$obj.failed"
  pool_wait
  (
    if "$@" >"$obj.log" 2>&1; then
      printf '%s' "$cmdline" >"$obj.cmd"
    else
      touch "$obj.failed"
    fi
  ) &
  running=$((running + 1))
}

# first_errors LOG: the lines that say what went wrong
first_errors() { grep -m3 -E 'error|Error' "$1" || tail -3 "$1"; }

# ---------------------------------------------------------------- libstdc++
# The core links -lstdc++ from tools/sdk/lib. If the checkout has the real
# archive it is used (its -L comes first); otherwise one is built from gcc
# 12 source: libsupc++ and src/c++98, c++11, c++17, c++20 (without the
# symbol-versioning compatibility-* files and what needs the target's
# configured locale/filesystem support), compiled as the core's
# libstdc++.a is: -mlongcalls -Os -ffunction-sections -fdata-sections
# -fno-exceptions.
stdcxx_status=""
find_gcc_source() {
  local src=${GCC_SOURCE:-} deb
  if [[ -z $src ]]; then
    src=$(ls /usr/src/gcc-"${gcc_version%%.*}"/gcc-*.tar.* 2>/dev/null | head -1 || true)
  fi
  if [[ -z $src ]]; then
    deb=$(ls "$cache"/dl/gcc-"${gcc_version%%.*}"-source_*.deb 2>/dev/null | head -1 || true)
    if [[ -z $deb ]]; then
      mkdir -p "$cache/dl"
      (cd "$cache/dl" && apt-get download "gcc-${gcc_version%%.*}-source") >"$cache/dl/apt.log" 2>&1 || true
      deb=$(ls "$cache"/dl/gcc-"${gcc_version%%.*}"-source_*.deb 2>/dev/null | head -1 || true)
    fi
    src=$deb
  fi
  printf '%s' "$src"
}
build_stdcxx() {
  local src key srcdir out
  src=$(find_gcc_source)
  if [[ -z $src || ! -e $src ]]; then
    rm -f "$stdcxx_dir/stamp" "$stdcxx_dir/lib/libstdc++.a"
    if [[ -n $src ]]; then
      stdcxx_status="no gcc source at GCC_SOURCE=$src"
    else
      stdcxx_status="no gcc ${gcc_version%%.*} source (GCC_SOURCE unset, package gcc-${gcc_version%%.*}-source not installed, apt-get download gcc-${gcc_version%%.*}-source failed: $(tail -1 "$cache/dl/apt.log" 2>/dev/null))"
    fi
    return 1
  fi
  key=$( { echo "$toolkey"; ls -l --time-style=+%s "$src"; } | sha1sum | cut -d' ' -f1)
  if [[ -f $stdcxx_dir/stamp && $(<"$stdcxx_dir/stamp") == "$key" && -f $stdcxx_dir/lib/libstdc++.a ]]; then
    stdcxx_status="built from $src (cached)"
    return 0
  fi
  hr
  say "libstdc++: building from $src (once)"
  srcdir=$stdcxx_dir/src
  rm -rf "$srcdir" "$stdcxx_dir/obj" "$stdcxx_dir/lib/libstdc++.a"
  mkdir -p "$srcdir" "$stdcxx_dir/obj"
  local want=('*/libstdc++-v3/libsupc++/*' '*/libstdc++-v3/src/*' '*/libgcc/unwind*')
  case $src in
    *.deb)
      local tarball
      tarball=$(dpkg-deb -c "$src" | awk '{print $NF}' | grep -E '/gcc-[0-9.]+[^/]*\.tar\.(xz|gz|bz2)$' | head -1 || true)
      [[ -n $tarball ]] || { stdcxx_status="$src holds no gcc-*.tar.*"; rm -f "$stdcxx_dir/stamp"; return 1; }
      dpkg-deb --fsys-tarfile "$src" | tar -x -C "$srcdir" "$tarball"
      tar -xf "$srcdir/$tarball" -C "$srcdir" --wildcards "${want[@]}"
      rm -f "$srcdir/$tarball"
      ;;
    *.tar.*) tar -xf "$src" -C "$srcdir" --wildcards "${want[@]}" ;;
    *) [[ -d $src/libstdc++-v3 ]] || { stdcxx_status="GCC_SOURCE=$src has no libstdc++-v3"; rm -f "$stdcxx_dir/stamp"; return 1; }
       mkdir -p "$srcdir/gcc"; cp -a "$src/libstdc++-v3" "$srcdir/gcc/"; mkdir -p "$srcdir/gcc/libgcc"; cp -a "$src"/libgcc/unwind* "$srcdir/gcc/libgcc/" ;;
  esac
  local top
  top=$(dirname "$(ls -d "$srcdir"/*/libstdc++-v3)")
  local base=("$tc/bin/$cross-g++" -c -mlongcalls -Os -g -free -fipa-pta -ffunction-sections -fdata-sections
    -fno-exceptions "-I$top/libstdc++-v3/libsupc++" "-I$top/libgcc")
  local f std o skipped=()
  for f in "$top"/libstdc++-v3/libsupc++/*.cc "$top"/libstdc++-v3/src/c++{98,11,17,20}/*.cc; do
    case ${f##*/} in compatibility*|*ldbl*|hash-long-double-tr1-aux.cc) continue ;; esac
    case $f in
      */libsupc++/*) std=(-std=gnu++17) ;;
      */c++98/*) std=(-std=gnu++98 -fno-implicit-templates) ;;
      */c++11/*) std=(-std=gnu++11 -fno-implicit-templates) ;;
      */c++17/*) std=(-std=gnu++17 -fno-implicit-templates) ;;
      */c++20/*) std=(-std=gnu++20 -fno-implicit-templates) ;;
    esac
    o=$stdcxx_dir/obj/$(basename "$(dirname "$f")")-$(basename "${f%.cc}").o
    pool_wait
    ( "${base[@]}" "${std[@]}" "$f" -o "$o" >"$o.log" 2>&1 || touch "$o.failed" ) &
    running=$((running + 1))
  done
  pool_drain
  for o in "$stdcxx_dir"/obj/*.o.failed; do
    [[ -e $o ]] && skipped+=("$(basename "${o%.o.failed}")")
  done
  "$cross-ar" crs "$stdcxx_dir/lib/libstdc++.a" "$stdcxx_dir"/obj/*.o
  printf '%s\n' "${skipped[@]}" >"$stdcxx_dir/skipped.txt"
  say "libstdc++: $(ls "$stdcxx_dir"/obj/*.o | wc -l) members; not compiled against these headers (locale and filesystem parts that need the target's configured sources; logs in $stdcxx_dir/obj): ${skipped[*]:-none}"
  echo "$key" >"$stdcxx_dir/stamp"
  stdcxx_status="built from $src"
}
if is_archive "$core/tools/sdk/lib/libstdc++.a"; then
  stdcxx_status="the core's tools/sdk/lib/libstdc++.a"
  rm -f "$stdcxx_dir/lib/libstdc++.a"
else
  build_stdcxx || true
  say "libstdc++: $core/tools/sdk/lib/libstdc++.a is not in the checkout; using: $stdcxx_status"
fi

# ---------------------------------------------------------------- recipes
props() { # variant build_path project sketch_dir command names...
  local variant=$1 bp=$2 project=$3 sdir=$4; shift 4
  python3 "$helpers/arduino_props.py" --platform "$core/platform.txt" --boards "$core/boards.txt" \
    --board generic --menu "ip=$variant" \
    --set "runtime.platform.path=$core" \
    --set "runtime.hardware.path=$(dirname "$core")" \
    --set "runtime.ide.path=$cache/ide" \
    --set "runtime.ide.version=10607" \
    --set "runtime.os=linux" \
    --set "software=ARDUINO" \
    --set "build.arch=ESP8266" \
    --set "build.fqbn=esp8266:esp8266:generic" \
    --set "_id=generic" \
    --set "build.path=$bp" \
    --set "build.project_name=$project" \
    --set "build.source.path=$sdir" \
    --set "build.core.path=$core/cores/esp8266" \
    --set "build.variant.path=$core/variants/generic" \
    --set "build.system.path=$core/system" \
    --set "runtime.tools.xtensa-lx106-elf-gcc.path=$tc" \
    --set "runtime.tools.python3.path=$python_dir" \
    --set "commonhfile.fqfn=$bp/core/CommonHFile.h" \
    --set "compiler.libraries.ldflags=$ldflags_libs" \
    "$@"
}
python_dir=$(dirname "$(python3 -c 'import sys; print(sys.executable)')")
# commonhfile.fqfn: platform.txt puts it into the core's own folder (an
# empty file whose date tells the IDE to rebuild core.a); here it goes to
# the build folder so the checkout is not written to.

# The recipes and values a sketch's build needs, as bash variables (one
# run of the helper).
load_sketch_props() { # variant bp project sdir
  eval "$(props "$1" "$2" "$3" "$4" shell \
    H_SKETCH:recipe.hooks.sketch.prebuild.pattern H_PRE2:recipe.hooks.prebuild.2.pattern \
    H_LINK1:recipe.hooks.linking.prelink.1.pattern H_LINK2:recipe.hooks.linking.prelink.2.pattern \
    H_LINK3:recipe.hooks.linking.prelink.3.pattern H_LINK4:recipe.hooks.linking.prelink.4.pattern \
    LINK:recipe.c.combine.pattern \
    HEX1:recipe.objcopy.hex.1.pattern HEX2:recipe.objcopy.hex.2.pattern HEX3:recipe.objcopy.hex.3.pattern \
    SDK=build.sdk MMU=build.mmuflags DATA_MAX=upload.maximum_data_size FLASH_MAX=upload.maximum_size)"
}

# expand_cmd OUTVAR TEMPLATE-VAR src obj includes...
expand_cmd() {
  local -n _out=$1 _tpl=$2
  local src=$3 obj=$4; shift 4
  _out=()
  local a
  for a in "${_tpl[@]}"; do
    case $a in
      '{includes}') _out+=("$@") ;;
      '{source_file}') _out+=("$src") ;;
      '{object_file}') _out+=("$obj") ;;
      *) _out+=("$a") ;;
    esac
  done
}

sources_in() { # dir recursive(yes/no)
  if [[ $2 == yes ]]; then
    find -L "$1" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.S' \) | LC_ALL=C sort
  else
    find -L "$1" -maxdepth 1 -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.S' \) | LC_ALL=C sort
  fi
}

# compile_sources OBJROOT SRCROOT includes... -- files...
compile_sources() {
  local objroot=$1 srcroot=$2; shift 2
  local includes=()
  while [[ $1 != -- ]]; do includes+=("$1"); shift; done
  shift
  local f rel obj cmd=()
  for f in "$@"; do
    rel=${f#"$srcroot"/}
    obj=$objroot/$rel.o
    case $f in
      *.c) expand_cmd cmd R_C "$f" "$obj" "${includes[@]}" ;;
      *.cpp) expand_cmd cmd R_CPP "$f" "$obj" "${includes[@]}" ;;
      *.S) expand_cmd cmd R_S "$f" "$obj" "${includes[@]}" ;;
    esac
    run_compile "$obj" "${cmd[@]}"
  done
}

# The library whose source folder has HEADER: this library first, then the
# core's libraries; a folder named after the header wins.
find_library() {
  local header=$1 d found=()
  for d in "$lib" "$core"/libraries/*; do
    d=${d%/}
    if [[ -d $d/src ]]; then
      [[ -f $d/src/$header ]] && found+=("$d")
    else
      [[ -f $d/$header ]] && found+=("$d")
    fi
  done
  ((${#found[@]})) || return 1
  for d in "${found[@]}"; do
    [[ $(basename "$d") == "${header%.h}" ]] && { echo "$d"; return 0; }
  done
  echo "${found[0]}"
}
lib_srcdir() { if [[ -d $1/src ]]; then echo "$1/src"; else echo "$1"; fi; }
lib_sources() {
  if [[ -d $1/src ]]; then sources_in "$1/src" yes
  else sources_in "$1" no; [[ -d $1/utility ]] && sources_in "$1/utility" yes; fi
  return 0
}

# ---------------------------------------------------------------- checks
mapfile -t all_sketches < <(ls -d "$lib"/examples/*/ | xargs -n1 basename)
sketches=(${SKETCHES:-${all_sketches[@]}})
archive=$lib/src/esp8266/libmqttvpn.a
results=()       # one line per sketch and variant

if is_archive "$archive"; then
  ldflags_libs="\"-L$lib/src/esp8266\" -lmqttvpn"
  archive_defs=$("$cross-nm" -g --defined-only "$archive" 2>/dev/null | awk 'NF==3{print $3}' | sort -u)
else
  ldflags_libs=""
  archive_defs=""
  missing+=("$archive (not built yet: scripts/build-esp8266.sh): linked without it, so every mqtt_if_* the shim and sketches call is unresolved")
fi

for variant in "${variants[@]}"; do
  bp=$cache/$variant
  mkdir -p "$bp/core"
  hr
  vname=$(grep -m1 "^generic\.menu\.ip\.$variant=" "$core/boards.txt" | cut -d= -f2-)
  say "lwIP variant $variant ($vname)"

  # The board's default menus, shown once per variant.
  say "board: generic, menus: $(props "$variant" "$bp" x.ino "$lib" menus | tr '\n' ' ')"

  eval "$(props "$variant" "$bp" x.ino "$lib" shell R_C:recipe.c.o.pattern R_CPP:recipe.cpp.o.pattern \
    R_S:recipe.S.o.pattern R_AR:recipe.ar.pattern H_PRE1:recipe.hooks.prebuild.1.pattern)"

  # Prebuild hooks (core_version.h here; build.opt and Updater_Signing.h
  # are made per sketch, below).
  "${H_PRE1[@]}" >"$bp/hooks.log" 2>&1 || { cat "$bp/hooks.log"; fail "$variant: recipe.hooks.prebuild.1.pattern"; }

  # Core: cores/esp8266 (recursively) and the variant folder, into core.a.
  core_inc=("-I$core/cores/esp8266" "-I$core/variants/generic")
  # build.opt and Updater_Signing.h must exist before the core compiles:
  # run the sketch hooks for the first sketch.
  first_sketch=${sketches[0]}
  load_sketch_props "$variant" "$bp" "$first_sketch.ino" "$lib/examples/$first_sketch"
  "${H_SKETCH[@]}" >>"$bp/hooks.log" 2>&1 || { cat "$bp/hooks.log"; fail "$variant: sketch prebuild hook"; }
  "${H_PRE2[@]}" >>"$bp/hooks.log" 2>&1 || { cat "$bp/hooks.log"; fail "$variant: prebuild.2 hook"; }

  mapfile -t core_src < <(sources_in "$core/cores/esp8266" yes; sources_in "$core/variants/generic" yes)
  say "core: compiling ${#core_src[@]} files"
  compile_sources "$bp/core" "$core" "${core_inc[@]}" -- "${core_src[@]}"
  pool_drain
  core_objs=()
  core_failed=()
  for f in "${core_src[@]}"; do
    o=$bp/core/${f#"$core"/}.o
    if [[ -e $o.failed ]]; then core_failed+=("$f"); else core_objs+=("$o"); fi
  done
  core_missing[$variant]=""
  for f in "${core_failed[@]}"; do
    o=$bp/core/${f#"$core"/}.o
    err=$(first_errors "$o.log" | head -1 | sed "s|^$core/[^:]*:[0-9]*:[0-9]*: ||")
    say "core: not compiled: ${f#"$core"/}: $err"
    why=""
    if [[ $err == *"fatal error: xtensa/"*"No such file"* ]]; then
      why=" (the lx106 HAL headers xtensa/*.h ship in the core's toolchain, tools/xtensa-lx106-elf/include; no Debian package has them)"
    fi
    core_missing[$variant]+="${f#"$core"/}: $err$why; "
  done
  link_incomplete[$variant]=0
  # core.a, again only when an object is newer or the set changed.
  core_list=$(printf '%s\n' "${core_objs[@]}")
  if ((${#core_objs[@]} == 0)); then
    fail "$variant: no core file compiled"
    continue
  fi
  if [[ -f $bp/core/core.a && -f $bp/core/core.a.list && $(<"$bp/core/core.a.list") == "$core_list" ]] &&
     [[ -z $(find "${core_objs[@]}" -newer "$bp/core/core.a" | head -1) ]]; then
    core_objs_new=()
  else
    rm -f "$bp/core/core.a"
    core_objs_new=("${core_objs[@]}")
    printf '%s' "$core_list" >"$bp/core/core.a.list"
  fi
  for o in "${core_objs_new[@]}"; do
    # recipe.ar.pattern: {archive_file_path} and {object_file}
    arcmd=()
    for a in "${R_AR[@]}"; do
      case $a in
        '{archive_file_path}') arcmd+=("$bp/core/core.a") ;;
        '{object_file}') arcmd+=("$o") ;;
        *) arcmd+=("$a") ;;
      esac
    done
    "${arcmd[@]}" 2>/dev/null
  done

  for sketch in "${sketches[@]}"; do
    sdir=$lib/examples/$sketch
    sp=$bp/$sketch
    project=$sketch.ino
    mkdir -p "$sp/sketch"
    hr
    say "$variant / $sketch"
    status_link="not linked"
    sizes=""

    # Hooks of this sketch; the shared core objects need an empty build.opt.
    load_sketch_props "$variant" "$bp" "$project" "$sdir"
    "${H_SKETCH[@]}" >>"$bp/hooks.log" 2>&1 || fail "$variant/$sketch: sketch prebuild hook"
    "${H_PRE2[@]}" >>"$bp/hooks.log" 2>&1 || fail "$variant/$sketch: prebuild.2 hook"
    if [[ -s $sdir/$project.globals.h ]]; then
      fail "$variant/$sketch: the sketch has a $project.globals.h (build options); this script shares the core objects between sketches and cannot check it"
      continue
    fi

    # The .ino files as one .cpp, as the IDE merges them.
    inos=("$sdir/$sketch.ino")
    for f in "$sdir"/*.ino; do [[ $f == "$sdir/$sketch.ino" ]] || inos+=("$f"); done
    merged=$sp/sketch/$sketch.ino.cpp
    {
      echo "#include <Arduino.h>"
      for f in "${inos[@]}"; do
        echo "#line 1 \"$f\""
        cat "$f"
        echo
      done
    } >"$merged.new"
    if [[ -f $merged ]] && cmp -s "$merged" "$merged.new"; then rm "$merged.new"; else mv "$merged.new" "$merged"; fi
    mapfile -t extra_src < <(sources_in "$sdir" no; [[ -d $sdir/src ]] && sources_in "$sdir/src" yes; true)

    # Library discovery, the IDE's way: preprocess each source; for each
    # missing header add the library that has it, and its sources.
    # The result is cached, keyed by the recipe and the dates of every file
    # the search could read.
    includes=("${core_inc[@]}")
    libs=()
    queue=("$merged" "${extra_src[@]}")
    qi=0
    discovery_ok=yes
    disc_key=$( { printf '%s\n' "$toolkey" "${R_CPP[*]}" "${R_C[*]}";
      find -L "$sdir" "$lib/src" "$core/libraries" "$core/cores" "$core/variants/generic" "$core/tools/sdk/include" "$core/tools/sdk/lwip2/include" \
        -type f -printf '%p %T@\n' | sort; } | sha1sum | cut -d' ' -f1)
    if [[ -f $sp/libraries.cache && $(head -1 "$sp/libraries.cache") == "$disc_key" ]]; then
      mapfile -t libs < <(tail -n +2 "$sp/libraries.cache")
      for l in "${libs[@]}"; do includes+=("-I$(lib_srcdir "$l")"); done
      queue=()
    fi
    while ((qi < ${#queue[@]})); do
      src=${queue[qi]}
      qi=$((qi + 1))
      while :; do
        case $src in *.c) tpl=R_C ;; *.S) tpl=R_S ;; *) tpl=R_CPP ;; esac
        expand_cmd cmd "$tpl" "$src" /dev/null "${includes[@]}"
        pp=()
        for a in "${cmd[@]}"; do
          case $a in -c) pp+=(-E) ;; -MMD) ;; *) pp+=("$a") ;; esac
        done
        if err=$("${pp[@]}" -w 2>&1 >/dev/null); then break; fi
        header=$(printf '%s\n' "$err" | sed -n 's/.*fatal error: \(.*\): No such file or directory.*/\1/p' | head -1)
        if [[ -z $header ]]; then
          break # a real error: the compile below reports it
        fi
        if ! l=$(find_library "$header"); then
          fail "$variant/$sketch: no library has $header (needed by ${src#"$repo"/})"
          discovery_ok=no
          break
        fi
        if [[ " ${libs[*]} " == *" $l "* ]]; then
          fail "$variant/$sketch: $header not found although ${l##*/} is in the include path"
          discovery_ok=no
          break
        fi
        libs+=("$l")
        includes+=("-I$(lib_srcdir "$l")")
        mapfile -t ls_ < <(lib_sources "$l")
        queue+=("${ls_[@]}")
      done
    done
    if [[ $discovery_ok == yes ]]; then
      { echo "$disc_key"; ((${#libs[@]})) && printf '%s\n' "${libs[@]}"; } >"$sp/libraries.cache"
    else
      rm -f "$sp/libraries.cache"
    fi
    lib_names=()
    for l in "${libs[@]}"; do lib_names+=("$(basename "$l")"); done
    say "libraries: ${lib_names[*]:-none}"
    [[ $discovery_ok == yes ]] || { results+=("$variant $sketch: library missing"); continue; }

    # Compile the sketch and its libraries (per sketch: the include list
    # differs between sketches).
    compile_sources "$sp/sketch" "$sp/sketch" "${includes[@]}" -- "$merged"
    ((${#extra_src[@]})) && compile_sources "$sp/sketch" "$sdir" "${includes[@]}" -- "${extra_src[@]}"
    for l in "${libs[@]}"; do
      mapfile -t ls_ < <(lib_sources "$l")
      ((${#ls_[@]})) && compile_sources "$sp/libraries/$(basename "$l")" "$l" "${includes[@]}" -- "${ls_[@]}"
    done
    pool_drain

    object_files=()
    own_objs=()
    compile_failed=no
    check_obj() { # obj src ours(yes/no)
      if [[ -e $1.failed || ! -f $1 ]]; then
        local what=${2#"$core"/}
        [[ $3 == yes ]] && what=${2#"$repo"/}
        fail "$variant/$sketch: $what does not compile: $(grep -m1 -E 'error' "$1.log" | sed "s|^$repo/||")"
        grep -E 'error' "$1.log" | sed 1d | head -4 | sed "s|^$repo/||; s/^/    /" || true
        compile_failed=yes
        return 1
      fi
      return 0
    }
    o=$sp/sketch/$sketch.ino.cpp.o
    check_obj "$o" "$sdir/$sketch.ino" yes && object_files+=("$o")
    for f in "${extra_src[@]}"; do
      o=$sp/sketch/${f#"$sdir"/}.o
      check_obj "$o" "$f" yes && object_files+=("$o")
    done
    for l in "${libs[@]}"; do
      name=$(basename "$l")
      mapfile -t ls_ < <(lib_sources "$l")
      lobjs=()
      ours=no
      [[ $l == "$lib" ]] && ours=yes
      for f in "${ls_[@]}"; do
        o=$sp/libraries/$name/${f#"$l"/}.o
        check_obj "$o" "$f" "$ours" && lobjs+=("$o")
        [[ $ours == yes ]] && own_objs+=("$o")
      done
      if grep -qs '^dot_a_linkage=true' "$l/library.properties" && ((${#lobjs[@]})); then
        a=$sp/libraries/$name/$name.a
        rm -f "$a"
        "$cross-ar" cru "$a" "${lobjs[@]}" 2>/dev/null
        object_files+=("$a")
      else
        object_files+=("${lobjs[@]}")
      fi
    done
    if [[ $compile_failed == yes ]]; then
      results+=("$variant $sketch: compile FAILED")
      continue
    fi
    say "compiled: sketch, ${lib_names[*]}"

    # Prelink hooks: the linker scripts.
    for n in 1 2 3 4; do
      declare -n hook=H_LINK$n
      "${hook[@]}" >>"$bp/hooks.log" 2>&1 || fail "$variant/$sketch: prelink hook $n"
      unset -n hook
    done

    # The link recipe. Archives of -l that the checkout or the cache lack
    # are left out (named below); what they would have provided shows as
    # unresolved.
    libdirs=("$core/tools/sdk/lib" "$core/tools/sdk/lib/$SDK" "$bp" "$newlib_lib" "$stdcxx_dir/lib" "$lib/src/esp8266")
    libdirs+=("$(dirname "$("$cross-gcc" -print-libgcc-file-name)")")
    link=()
    dropped=()
    for a in "${LINK[@]}"; do
      case $a in
        '{object_files}') link+=("${object_files[@]}") ;;
        '{archive_file_path}') link+=("$bp/core/core.a") ;;
        -l*)
          found=""
          for d in "${libdirs[@]}"; do is_archive "$d/lib${a#-l}.a" && { found=$d; break; }; done
          if [[ -n $found ]]; then link+=("$a"); else dropped+=("lib${a#-l}.a"); fi
          ;;
        *) link+=("$a") ;;
      esac
    done
    elf=$bp/$project.elf
    map=$bp/$project.map
    rm -f "$elf" "$bp/$project.bin"
    linklog=$sp/link.log
    complete=no
    if "${link[@]}" >"$linklog" 2>&1; then
      complete=yes
    fi
    if ((${#dropped[@]})); then
      for d in "${dropped[@]}"; do
        case $d in
          libbearssl.a) why="tools/sdk/lib/libbearssl.a (a large file) is absent from the core checkout" ;;
          libstdc++.a) why="tools/sdk/lib/libstdc++.a is absent from the core checkout and none was built: $stdcxx_status" ;;
          *) why="not found" ;;
        esac
        dropped_all[$d]="$why"
        n=${d#lib}
        say "link: left out -l${n%.a}: $why"
      done
    fi
    # Unresolved symbols: from a link that turns them into warnings
    # (mangled names, with the object that refers to each).
    if [[ $complete == no ]]; then
      diag=("${link[@]}" -Wl,--warn-unresolved-symbols -Wl,--no-demangle)
      "${diag[@]}" >"$sp/link-diag.log" 2>&1 || true
      grep -v 'undefined reference\|in function\|warning\|NOTE: \|collect2' "$linklog" | head -10 | sed 's/^/    /' || true
    else
      : >"$sp/link-diag.log"
    fi
    undefined=$(sed -n "s/.*undefined reference to \`\(.*\)'.*/\1/p" "$sp/link-diag.log" | sort -u)
    if [[ -f $elf ]]; then
      undefined=$( { printf '%s\n' "$undefined"; "$cross-nm" -u "$elf" | awk '$1=="U"{print $2}'; } | sed '/^$/d' | sort -u)
    fi
    # Ours: mqtt_if_*, anything the archive or the shim defines.
    own_defs=$( { printf '%s\n' "$archive_defs"; "$cross-nm" -g --defined-only "${own_objs[@]}" 2>/dev/null | awk 'NF==3{print $3}'; } | sort -u || true)
    ours_unresolved=()
    others_unresolved=()
    while read -r s; do
      [[ -z $s ]] && continue
      if [[ $s == mqtt_if_* || $s == mqtt_vpn_* ]] || grep -qxF -- "$s" <<<"$own_defs"; then
        ours_unresolved+=("$s")
      else
        others_unresolved+=("$s")
      fi
    done <<<"$undefined"
    if ((${#ours_unresolved[@]})); then
      fail "$variant/$sketch: symbols of ours unresolved: ${ours_unresolved[*]}"
    else
      say "unresolved symbols of ours (mqtt_if_*, mqtt_vpn_*, defined by libmqttvpn.a or the shim): none"
    fi
    if ((${#others_unresolved[@]})); then
      say "other unresolved symbols (${#others_unresolved[@]}), with the objects that use them:"
      # ld names the object ("ld: OBJ: in function ...") on the line before
      # each reference.
      awk '/: in function `/ { o = $0; sub(/^.*\/ld: /, "", o); sub(/: in function `.*$/, "", o); n = split(o, p, "/"); obj = p[n] }
           /undefined reference to `/ { s = $0; sub(/^.*undefined reference to `/, "", s); sub(/\047.*$/, "", s); print s "\t" obj }' \
        "$sp/link-diag.log" | sort -u >"$sp/unresolved-users.txt"
      for s in "${others_unresolved[@]}"; do
        users=$(awk -F'\t' -v s="$s" '$1 == s { print $2 }' "$sp/unresolved-users.txt" | tr '\n' ' ')
        say "    $s ($("$cross-c++filt" "$s")) <- ${users:-?}"
      done
    fi

    if [[ -f $map && -f $stdcxx_dir/lib/libstdc++.a ]]; then
      members=$(grep -o "libstdcxx/lib/libstdc++\.a([^)]*)" "$map" | sed 's/.*(\(.*\)\.o)/\1/' | sort -u | tr '\n' ' ' || true)
      say "libstdc++ members linked (built here from gcc source): ${members:-none}"
    fi
    if [[ $complete == yes ]]; then
      status_link="linked, complete (no undefined symbols)"
      [[ -z $undefined ]] || status_link="linked, but nm -u lists: $undefined"
      # .bin and the core's size table (recipe.objcopy.hex.*).
      for n in 1 2 3; do
        declare -n hook=HEX$n
        if ! "${hook[@]}" >"$sp/hex.$n.log" 2>&1; then
          say "recipe.objcopy.hex.$n.pattern failed:"; sed 's/^/    /' "$sp/hex.$n.log" | head -10
          [[ $n == 1 ]] && fail "$variant/$sketch: elf2bin.py failed"
        fi
        unset -n hook
      done
      if [[ -f $bp/$project.bin ]]; then
        binsize=$(stat -c %s "$bp/$project.bin")
        say "firmware: $bp/$project.bin ($binsize bytes)"
      fi
      sed 's/^/    /' "$sp/hex.3.log"
    elif [[ -f $elf ]]; then
      status_link="link INCOMPLETE (${#others_unresolved[@]} symbols unresolved, inputs missing)"
      link_incomplete[$variant]=1
    else
      status_link="link FAILED"
      link_incomplete[$variant]=1
      fail "$variant/$sketch: the link failed (log: $linklog)"
    fi

    # Figures (also of an incomplete image, labelled as such).
    if [[ -f $elf ]]; then
      iram=$(sed -n 's/.*-DMMU_IRAM_SIZE=\(0x[0-9a-fA-F]*\).*/\1/p' <<<"$MMU")
      iram=${iram:-0x8000}
      dram_limit=$DATA_MAX
      flash_limit=$FLASH_MAX
      if [[ -z $flash_limit ]]; then
        # boards.txt gives no maximum_size for this flash layout: the
        # sketch space is the flash linker script's irom0_0_seg.
        flash_limit=$(sed -n 's/.*irom0_0_seg *: *org *= *0x[0-9a-fA-F]*, *len *= *\(0x[0-9a-fA-F]*\).*/\1/p' "$bp/local.eagle.flash.ld")
        flash_limit=$((flash_limit))
      fi
      label=""
      [[ $complete == yes ]] || label="(incomplete image) "
      shares=("--share=libmqttvpn.a=libmqttvpn.a(")
      for o in "${own_objs[@]}"; do shares+=("--share=shim $(basename "${o%.o}")=$o"); done
      if ! python3 "$helpers/image_report.py" --elf "$elf" --map "$map" --readelf "$cross-readelf" \
          --ld "$bp/local.eagle.flash.ld" --ld "$bp/local.eagle.app.v6.common.ld" \
          --define "MMU_IRAM_SIZE=$iram" --iram-limit $((iram)) --dram-limit "${dram_limit:-81920}" \
          --flash-limit "$flash_limit" "${shares[@]}" --prefix "$label" >"$sp/sizes.txt"; then
        [[ $complete == yes ]] && fail "$variant/$sketch: the image does not fit"
      fi
      grep -v '^SUMMARY' "$sp/sizes.txt"
      sizes="; $(sed -n 's/^SUMMARY //p' "$sp/sizes.txt")"
    fi
    results+=("$variant $sketch: compiled; $status_link$sizes")
  done
done

hr
say "Summary (core: $core; libstdc++: $stdcxx_status)"
for r in "${results[@]}"; do say "  $r"; done
incomplete=0
for variant in "${variants[@]}"; do
  [[ ${link_incomplete[$variant]:-0} == 1 ]] && incomplete=1
done
for d in "${!dropped_all[@]}"; do
  if ((incomplete)); then
    missing+=("$d, left out of every link: ${dropped_all[$d]}")
  else
    missing+=("$d, left out of every link: ${dropped_all[$d]}; not needed: every link completed without it")
  fi
done
for variant in "${variants[@]}"; do
  [[ -n ${core_missing[$variant]:-} ]] || continue
  if [[ ${link_incomplete[$variant]} == 0 ]]; then
    missing+=("$variant: core file(s) not compiled: ${core_missing[$variant]}not needed: every link of this variant completed without them (core.a members are only pulled in for undefined symbols)")
  else
    missing+=("$variant: core file(s) not compiled: ${core_missing[$variant]}a link of this variant is incomplete: see its unresolved symbols")
  fi
done
if ((${#missing[@]})); then
  say "Missing inputs:"
  for m in "${missing[@]}"; do say "  $m"; done
fi
if ((${#failures[@]})); then
  say "FAILED:"
  for f in "${failures[@]}"; do say "  $f"; done
  exit 1
fi
if ((incomplete)) && [[ ${REQUIRE_COMPLETE:-0} == 1 ]]; then
  say "FAILED: REQUIRE_COMPLETE=1 and a link could not complete for the missing inputs listed above"
  exit 4
fi
if ((incomplete)); then
  say "OK as far as the inputs allow: no symbol of ours unresolved, but a link could not complete for the missing inputs listed above"
else
  say "OK: every sketch compiled and linked into a complete image that fits"
fi
