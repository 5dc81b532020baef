#!/usr/bin/env bash
# CI's release check: scripts/build-release.sh and scripts/test-release.sh,
# cut to what fits CI's time. It builds the aarch64 static binary (profile
# ci-cross: the release code at opt-level 1, about 3 minutes on 2 cores
# against 5+ for the release profile) and its arm64 .deb with the real
# tools (cargo-zigbuild and zig from PyPI, cargo-deb from crates.io), then
# runs every check of scripts/test-release.sh on them: the binary under
# qemu-aarch64 (--version, --help, bad flag, config checks), an encrypted
# tunnel between it and an x86_64 node (this host's build of mqtt_vpn, given
# as the first argument) in network namespaces, and the .deb unpacked in a
# scratch root (file list, modes, maintainer scripts, systemd-analyze
# verify). The x86_64 and armv7 release builds, and the dist profile, are
# left to a release: run the two scripts in full there.
#
# usage: scripts/ci-release.sh X86_64_NODE_BINARY
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
native=$(realpath "${1:?usage: scripts/ci-release.sh X86_64_NODE_BINARY}")
[[ -x $native ]] || { echo "ci-release: $native is not an executable" >&2; exit 1; }
dist=$(mktemp -d /tmp/mqtt-vpn-ci-dist.XXXXXX)
trap 'rm -rf "$dist"' EXIT
MQTT_VPN_DIST=$dist MQTT_VPN_PROFILE=ci-cross bash "$root/scripts/build-release.sh" aarch64-unknown-linux-musl
MQTT_VPN_TUNNEL_PEER=$native bash "$root/scripts/test-release.sh" "$dist"
