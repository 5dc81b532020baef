#!/usr/bin/env bash
# Packs the Arduino library as the IDE's "Sketch > Include Library > Add .ZIP
# Library" wants it: one top folder mqtt_vpn_arduino/ with library.properties,
# src/ and examples/. src/mqttif_c.h in the zip is a fresh copy of the
# generated C header include/mqttif.h (the copy kept in arduino/ is for using
# the folder directly; tests/arduino_library.rs checks it is current). The
# precompiled archives found in arduino/mqtt_vpn_arduino/src/<mcu>/*.a go in
# too; none are built here (see src/esp8266/README.md).
#
# usage: scripts/package-arduino.sh [OUTPUT.zip]
#   default output: $MQTT_VPN_ARDUINO_ZIP, else libraries/mqtt_vpn_arduino.zip
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${MQTT_VPN_ARDUINO_ZIP:-$root/libraries/mqtt_vpn_arduino.zip}}
case $out in /*) ;; *) out=$PWD/$out ;; esac
lib=$root/arduino/mqtt_vpn_arduino

command -v zip >/dev/null || { echo "package-arduino: zip is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dst=$stage/mqtt_vpn_arduino
mkdir -p "$dst"
cp "$lib/library.properties" "$dst/"
cp -R "$lib/src" "$lib/examples" "$dst/"
cp "$root/include/mqttif.h" "$dst/src/mqttif_c.h"

archives=$(cd "$dst" && find src -mindepth 2 -name '*.a' | sort)
if [[ -z $archives ]]; then
  echo "package-arduino: no precompiled archives in src/<mcu>/: the zip holds sources only and will not link on a board" >&2
fi

mkdir -p "$(dirname "$out")"
rm -f "$out"
(cd "$stage" && zip -q -r -X "$out" mqtt_vpn_arduino)
echo "wrote $out"
for a in $archives; do echo "  with $a"; done
