#!/usr/bin/env bash
# Packs the Arduino library as the IDE's "Sketch > Include Library > Add .ZIP
# Library" wants it: one top folder mqtt_vpn_arduino/ with library.properties,
# src/ (with the precompiled src/<mcu>/libmqttvpn.a), examples/, the licence
# files and BUILD-INFO.txt. src/mqttif_c.h in the zip is a fresh copy of the
# generated C header include/mqttif.h.
#
# The zip is committed (libraries/mqtt_vpn_arduino.zip) so that a clone
# needs no Rust toolchain. Its BUILD-INFO.txt records a hash of everything
# the zip is made from (the embedded library's sources, the build scripts,
# the Arduino sources, the lwIP netif shim in shim/); `--check` recomputes
# that hash and fails when the committed zip was made from other inputs. The
# zip is reproducible: sorted entries, fixed times, no extra attributes.
#
# src/mqtt_vpn_netif.{c,h} are symbolic links to the one copy in shim/
# (shared with the ESP-IDF component); the zip gets the files they point
# to, never links: the staging copy dereferences them (cp -L).
#
# usage: scripts/package-arduino.sh [OUTPUT.zip]
#          default output: $MQTT_VPN_ARDUINO_ZIP, else libraries/mqtt_vpn_arduino.zip
#        scripts/package-arduino.sh --check [ZIP]   fails if ZIP is stale
#        scripts/package-arduino.sh --inputs-hash   prints the hash
# Build the archive first: scripts/build-esp8266.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=$root/arduino/mqtt_vpn_arduino
default_zip=$root/libraries/mqtt_vpn_arduino.zip

# Every tracked file the zip is made from, hashed in a stable order.
inputs_hash() {
  (cd "$root" && git ls-files -z -- src Cargo.toml Cargo.lock build.rs cbindgen.toml \
      targets scripts/build-esp8266.sh scripts/xtensa_asm.py scripts/package-arduino.sh \
      arduino/mqtt_vpn_arduino shim include LICENSE-MIT LICENSE-APACHE \
      ':!src/linux' ':!src/bin' |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
}

case ${1:-} in
  --inputs-hash) inputs_hash; exit 0 ;;
  --check)
    zip=${2:-$default_zip}
    command -v unzip >/dev/null || { echo "package-arduino: unzip is missing" >&2; exit 1; }
    recorded=$(unzip -p "$zip" mqtt_vpn_arduino/BUILD-INFO.txt 2>/dev/null | sed -n 's/^inputs-sha256: //p')
    now=$(inputs_hash)
    if [[ $recorded != "$now" ]]; then
      echo "package-arduino: $zip is stale: made from inputs ${recorded:-unknown}, the tree has $now." >&2
      echo "  rebuild it: scripts/build-esp8266.sh && scripts/package-arduino.sh, and commit the zip" >&2
      exit 1
    fi
    echo "package-arduino: $zip is current (inputs $now)"
    exit 0 ;;
esac

out=${1:-${MQTT_VPN_ARDUINO_ZIP:-$default_zip}}
case $out in /*) ;; *) out=$PWD/$out ;; esac
command -v zip >/dev/null || { echo "package-arduino: zip is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dst=$stage/mqtt_vpn_arduino
mkdir -p "$dst"
cp "$lib/library.properties" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$dst/"
# -L: the shim's links become the files themselves (a dangling link fails).
cp -RL "$lib/src" "$lib/examples" "$dst/"
cp "$root/include/mqttif.h" "$dst/src/mqttif_c.h"
links=$(find "$dst" -type l)
if [[ -n $links ]]; then
  echo "package-arduino: symbolic links left in the staged library: $links" >&2
  exit 1
fi

archives=$(cd "$dst" && find src -mindepth 2 -name '*.a' | sort)
if [[ -z $archives ]]; then
  echo "package-arduino: no precompiled archives in src/<mcu>/: the zip holds sources only and will not link on a board (run scripts/build-esp8266.sh first)" >&2
fi
{
  echo "mqtt_vpn_arduino $(sed -n 's/^version=//p' "$lib/library.properties")"
  echo "inputs-sha256: $(inputs_hash)"
  for a in $archives; do
    echo "archive: $a sha256 $(sha256sum "$dst/$a" | cut -c1-64)"
  done
  echo "built with: $(rustc +"${MQTT_VPN_NIGHTLY:-nightly}" --version 2>/dev/null || echo unknown rustc), $(xtensa-lx106-elf-as --version 2>/dev/null | head -1 || echo no GNU as)"
  echo "sources: the mqtt-vpn repository; scripts/build-esp8266.sh and scripts/package-arduino.sh remake this zip"
} >"$dst/BUILD-INFO.txt"

# Reproducible: fixed times and modes, sorted entries, no extra fields.
find "$stage" -exec touch -h -d '2000-01-01 00:00:00 UTC' {} +
find "$stage" -type d -exec chmod 755 {} + && find "$stage" -type f -exec chmod 644 {} +
mkdir -p "$(dirname "$out")"
rm -f "$out"
(cd "$stage" && find mqtt_vpn_arduino | LC_ALL=C sort | TZ=UTC zip -q -X -D -@ "$out")
echo "wrote $out"
for a in $archives; do echo "  with $a"; done
