#!/usr/bin/env bash
# Builds the static release binaries of the Linux node (musl, no shared
# libraries, the default features `std,linux`: TLS, WebSocket and the
# in-process broker) for
#   x86_64-unknown-linux-musl        PCs, servers
#   aarch64-unknown-linux-musl       Raspberry Pi 3/4/5 (64-bit OS), ARM servers
#   armv7-unknown-linux-musleabihf   Raspberry Pi 2/3/4 (32-bit OS), ARMv7 boards
# and writes them to dist/ as mqtt_vpn-<version>-<triple>, then the Debian
# packages mqtt-vpn_<version>-1_<arch>.deb (amd64, arm64, armhf) made from
# those same binaries by cargo-deb (`cargo install cargo-deb --locked`; the
# package layout is [package.metadata.deb] in Cargo.toml, the unit template
# and maintainer scripts are in packaging/debian/), and SHA256SUMS.
# `mqtt_vpn --version` prints the version and the triple.
#
# Tools, all from package registries:
#   PyPI    ziglang + cargo-zigbuild (in a venv under $CARGO_TARGET_DIR/release-tools)
#   rustup  the musl targets; for armv7 the nightly toolchain's rust-src
#
# Why zig and not Debian's cross compilers (gcc-aarch64-linux-gnu,
# gcc-arm-linux-gnueabihf): `ring` (rustls' crypto) compiles C and assembly
# with the target's C compiler, and a musl binary must also link musl's crt
# objects and libc. Rustup's musl targets bring those for x86_64 and aarch64,
# but Debian's cross gccs are glibc toolchains: they compile ring fine, yet
# for armv7 there is no rustup rust-std (static.rust-lang.org answers 404 for
# rust-std-*-armv7-unknown-linux-musleabihf here), so std is built from
# source (-Zbuild-std), which leaves no self-contained musl crt/libc in the
# sysroot, and the glibc cross gcc would link glibc's crt1.o against musl.
# `zig cc` carries musl for every target and is the C compiler (ring) and the
# linker for all three triples alike: one tool, one code path, no multiarch
# musl-dev:armhf. ring 0.17 builds with zig cc without warnings or patches.
#
# usage: scripts/build-release.sh [TRIPLE...]      (default: all three)
# env:   MQTT_VPN_DIST   output directory (default: dist)
#        MQTT_VPN_NIGHTLY  toolchain for -Zbuild-std (default: nightly)
#        MQTT_VPN_NO_DEB=1 binaries only
#        MQTT_VPN_PROFILE  cargo profile (default: dist; CI uses ci-cross)
# Takes about 5 minutes per triple on 2 cores (release profile `dist`;
# armv7 longer, it builds std too), 15+ minutes for all: more than CI can
# spend. CI runs scripts/ci-release.sh instead: this script for aarch64 only,
# at profile ci-cross (3 minutes), and every check of scripts/test-release.sh
# on that binary and its .deb. Run this script and scripts/test-release.sh
# in full before a release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
all=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
target_dir=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target_dir
dist=${MQTT_VPN_DIST:-$root/dist}
nightly=${MQTT_VPN_NIGHTLY:-nightly}
profile=${MQTT_VPN_PROFILE:-dist}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

# The zig toolchain (PyPI), once.
venv=$target_dir/release-tools/venv
if [[ ! -x $venv/bin/cargo-zigbuild ]] || ! "$venv/bin/python3" -m ziglang version >/dev/null 2>&1; then
  echo "== installing ziglang and cargo-zigbuild from PyPI into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check ziglang cargo-zigbuild
fi
# cargo-zigbuild runs `python3 -m ziglang` when there is no `zig` on PATH.
export PATH=$venv/bin:$PATH
echo "zig $(python3 -m ziglang version), $(cargo-zigbuild --version)"

mkdir -p "$dist"
for triple in "${targets[@]}"; do
  echo "== $triple"
  if rustup target list --installed | grep -qx "$triple" || rustup target add "$triple" >/dev/null 2>&1; then
    toolchain=(); build_std=()
  else
    # No prebuilt std for this triple: build it from source on nightly.
    echo "   no rustup rust-std for $triple: building std from source on $nightly"
    rustup component list --toolchain "$nightly" --installed | grep -q '^rust-src' ||
      rustup component add rust-src --toolchain "$nightly"
    toolchain=("+$nightly"); build_std=(-Zbuild-std=std,panic_abort)
  fi
  # Without rust-std there is no self-contained crt1.o/libc.a in the sysroot:
  # zig's own musl crt and libc are linked instead.
  # (rustc still passes -L for that absent directory: one harmless linker
  # warning, "unable to open library directory".)
  flags_var=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$triple")_RUSTFLAGS
  if ((${#build_std[@]})); then export "$flags_var=-C link-self-contained=no"; fi
  cargo "${toolchain[@]}" zigbuild --locked --profile "$profile" --bin mqtt_vpn \
    --target "$triple" "${build_std[@]}"
  bin=$target_dir/$triple/$profile/mqtt_vpn
  # Static: no program interpreter, no NEEDED libraries.
  if readelf -l "$bin" | grep -q 'Requesting program interpreter' || readelf -d "$bin" | grep -q NEEDED; then
    echo "build-release: $bin is not static" >&2
    readelf -ld "$bin" | grep -E 'interpreter|NEEDED' >&2
    exit 1
  fi
  cp "$bin" "$dist/mqtt_vpn-$version-$triple"
  echo "   $(stat -c %s "$dist/mqtt_vpn-$version-$triple") bytes  $dist/mqtt_vpn-$version-$triple"
done

if [[ -z ${MQTT_VPN_NO_DEB:-} ]]; then
  command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
  for triple in "${targets[@]}"; do
    case $triple in
      x86_64-*) arch=amd64 ;; aarch64-*) arch=arm64 ;; armv7-*) arch=armhf ;; *) continue ;;
    esac
    echo "== $arch .deb"
    # --no-build: the static binary built above; it is stripped already
    # (profile dist), so no host `strip` runs on a foreign binary.
    cargo deb --no-build --no-strip --profile "$profile" --target "$triple" \
      --output "$dist/mqtt-vpn_${version}-1_$arch.deb"
  done
fi
cd "$dist"
shopt -s nullglob
sha256sum mqtt_vpn-"$version"-* mqtt-vpn_"$version"-*.deb >SHA256SUMS
ls -l
