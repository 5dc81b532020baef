#!/usr/bin/env bash
# Checks what scripts/build-release.sh wrote to dist/, on this x86_64 host:
#
# 1. every static binary (foreign ones under qemu-user, called directly:
#    `qemu-aarch64 ./mqtt_vpn`, no binfmt needed): it is static, `--version`
#    names its version and triple, `--help` works, a bad flag exits 2, and
#    configs are checked before anything starts: an unknown key and a bad
#    address exit 2 with the reason, the shipped example parses (it stops,
#    with status 2, at its password files, which do not exist here);
# 2. as root, a tunnel across mosquitto between network namespaces: an
#    x86_64 node (native) and an aarch64 node (under qemu-aarch64), and an
#    armv7 node (qemu-arm) when that binary is there: encrypted pings both
#    ways and a 1 MB TCP transfer checked by SHA-256. Veths use
#    198.18.0.0/15, VPN addresses 10.0.1.0/24, only inside the namespaces;
#    every process is stopped by PID and every namespace deleted on exit;
# 3. every .deb: unpacked with `dpkg -x` in a scratch root, its file list
#    and modes, control fields and maintainer scripts, the binary's
#    architecture, and `systemd-analyze verify` on the unit (instance mq0).
#
# usage: scripts/test-release.sh [DIST]     (default: dist)
# env:   MQTT_VPN_TUNNEL_PEER  the x86_64 node of the tunnel when DIST has no
#        x86_64 binary (scripts/ci-release.sh passes the host's own build)
# Needs qemu-user (installed when missing, as root) and, for the tunnel,
# root, mosquitto, iproute2, iputils-ping and netcat-openbsd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${1:-$root/dist}" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)
WORK=$(mktemp -d /tmp/mqtt-vpn-release.XXXXXX)
LAB_NAME=test-release
. "$root/scripts/lab.sh"
fails=0

die() { echo "test-release: $*" >&2; exit 1; }
ok() { echo "  ok   $*"; }
bad() { echo "  FAIL $*" >&2; fails=$((fails + 1)); }

if ! command -v qemu-aarch64 >/dev/null || ! command -v qemu-arm >/dev/null; then
  [[ $(id -u) == 0 ]] || die "qemu-aarch64/qemu-arm missing: apt-get install qemu-user"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
fi

# The command prefix that runs a binary of this triple here.
runner() {
  case $1 in
    x86_64-*) ;;
    aarch64-*) echo qemu-aarch64 ;;
    armv7-*) echo qemu-arm ;;
    *) die "no runner for $1" ;;
  esac
}

# --- 1. the binaries ---------------------------------------------------------
shopt -s nullglob
bins=("$dist"/mqtt_vpn-"$version"-*)
((${#bins[@]})) || die "no $dist/mqtt_vpn-$version-* (run scripts/build-release.sh)"
cat >"$WORK/unknown-key.toml" <<'EOF'
address = "10.0.1.1"
broker = "tcp://198.18.0.1:1883"
no-such-key = 1
EOF
cat >"$WORK/bad-address.toml" <<'EOF'
address = "10.0.1.300"
broker = "tcp://198.18.0.1:1883"
EOF
for bin in "${bins[@]}"; do
  triple=${bin##*/mqtt_vpn-"$version"-}
  read -r -a run <<<"$(runner "$triple")"
  echo "== $triple ($(stat -c %s "$bin") bytes) ${run[*]:-native}"
  if readelf -l "$bin" | grep -q 'program interpreter' || readelf -d "$bin" | grep -q NEEDED; then
    bad "$triple: not static"
  else
    ok "static ($(readelf -h "$bin" | sed -n 's/ *Machine: *//p'))"
  fi
  out=$("${run[@]}" "$bin" --version) && [[ $out == "mqtt_vpn $version ($triple)" ]] &&
    ok "--version: $out" || bad "--version: ${out:-<none>}"
  out=$("${run[@]}" "$bin" --help) && [[ $out == *--config* && $out == *--broker* ]] &&
    ok "--help" || bad "--help"
  rc=0; "${run[@]}" "$bin" --no-such-flag >/dev/null 2>"$WORK/err.log" || rc=$?
  ((rc == 2)) && grep -q -- "--no-such-flag" "$WORK/err.log" && ok "bad flag: exit 2" || bad "bad flag: exit $rc"
  rc=0; "${run[@]}" "$bin" --config "$WORK/unknown-key.toml" >/dev/null 2>"$WORK/err.log" || rc=$?
  ((rc == 2)) && grep -q "no-such-key" "$WORK/err.log" && ok "unknown config key: exit 2" ||
    bad "unknown config key: exit $rc: $(head -c 300 "$WORK/err.log")"
  rc=0; "${run[@]}" "$bin" --config "$WORK/bad-address.toml" >/dev/null 2>"$WORK/err.log" || rc=$?
  ((rc == 2)) && grep -q "invalid IPv4 address" "$WORK/err.log" && ok "bad address in config: exit 2" ||
    bad "bad address in config: exit $rc: $(head -c 300 "$WORK/err.log")"
  rc=0; "${run[@]}" "$bin" --config "$root/examples/mqtt-vpn.toml" >/dev/null 2>"$WORK/err.log" || rc=$?
  ((rc == 2)) && grep -q "password" "$WORK/err.log" && ok "example config parses (stops at its password files: exit 2)" ||
    bad "example config: exit $rc: $(head -c 300 "$WORK/err.log")"
done

# --- 2. a tunnel between architectures ---------------------------------------
tunnel() {
  local native=$dist/mqtt_vpn-$version-x86_64-unknown-linux-musl
  [[ -x $native ]] || native=${MQTT_VPN_TUNNEL_PEER:-$native}
  local arm64=$dist/mqtt_vpn-$version-aarch64-unknown-linux-musl
  local armv7=$dist/mqtt_vpn-$version-armv7-unknown-linux-musleabihf
  [[ -x $native && -x $arm64 ]] || { echo "SKIPPED tunnel: needs the x86_64 and aarch64 binaries"; return; }
  local nodes=("$native" "$arm64") n
  [[ -x $armv7 ]] && nodes+=("$armv7")
  local brk=mqr-brk-$$
  add_ns "$brk"
  for n in $(seq ${#nodes[@]}); do add_host "$brk" "mqr-h$n-$$" "$n"; done
  start_mosquitto /usr/sbin/mosquitto "$brk" || { bad "mosquitto did not start"; return; }
  local bin triple
  for n in $(seq ${#nodes[@]}); do
    bin=${nodes[n - 1]}; triple=${bin##*/mqtt_vpn-"$version"-}
    [[ $bin == "$native" ]] && triple=x86_64-native
    read -r -a run <<<"$(runner "$triple")"
    start_in "mqr-h$n-$$" "node$n-$triple" "${run[@]}" "$bin" -i mq0 -a "10.0.1.$n" \
      -b "tcp://198.18.$n.1:1883" -k release-test-pw
  done
  echo "== tunnel: ${#nodes[@]} nodes (x86_64 native; aarch64 qemu-aarch64${nodes[2]:+; armv7 qemu-arm}) over mosquitto, encrypted"
  local up a b
  for n in $(seq 2 ${#nodes[@]}); do
    up=no
    for _ in $(seq 60); do   # qemu-user nodes start slowly
      ip netns exec "mqr-h1-$$" ping -c1 -W1 "10.0.1.$n" >/dev/null 2>&1 && { up=yes; break; }
    done
    [[ $up == yes ]] && ok "ping x86_64 10.0.1.1 -> 10.0.1.$n (${nodes[n - 1]##*-"$version"-})" ||
      { bad "no ping 10.0.1.1 -> 10.0.1.$n"; continue; }
    ip netns exec "mqr-h$n-$$" ping -c3 -i0.2 -W2 10.0.1.1 >"$WORK/ping.log" 2>&1 &&
      ok "ping 10.0.1.$n -> 10.0.1.1: $(grep -o 'rtt.*' "$WORK/ping.log")" || bad "ping 10.0.1.$n -> 10.0.1.1"
    # 1 MB over TCP, foreign node -> x86_64 node, checked end to end.
    head -c 1048576 /dev/urandom >"$WORK/blob"
    ip netns exec "mqr-h1-$$" timeout 60 nc -l -N 10.0.1.1 5001 >"$WORK/blob.in" 2>/dev/null &
    local listener=$!
    PIDS+=("$listener")
    sleep 0.5
    ip netns exec "mqr-h$n-$$" timeout 60 nc -N 10.0.1.1 5001 <"$WORK/blob" 2>/dev/null || true
    wait "$listener" 2>/dev/null || true
    a=$(sha256sum <"$WORK/blob"); b=$(sha256sum <"$WORK/blob.in")
    [[ $a == "$b" ]] && ok "1 MB TCP 10.0.1.$n -> 10.0.1.1, SHA-256 equal" ||
      bad "TCP 10.0.1.$n -> 10.0.1.1: got $(stat -c %s "$WORK/blob.in") bytes, digest differs"
  done
  for n in $(seq ${#nodes[@]}); do
    grep -qi "panic" "$WORK"/node$n-*.log && bad "node $n panicked: $(grep -i panic "$WORK"/node$n-*.log)"
  done
  ip netns exec "mqr-h2-$$" ip -br addr show mq0 >/dev/null 2>&1 && ok "aarch64 node made mq0 under qemu-aarch64: $(grep -ho 'interface mq0 up.*' "$WORK"/node2-*.log | head -n1)" ||
    bad "aarch64 node has no mq0: $(tail -n3 "$WORK"/node2-*.log)"
}
if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED tunnel: needs root (network namespaces, TUN)"
elif [[ ! -x /usr/sbin/mosquitto ]] || ! command -v nc >/dev/null; then
  echo "SKIPPED tunnel: needs mosquitto and netcat-openbsd (scripts/install-deps.sh)"
else
  tunnel
fi

# --- 3. the Debian packages --------------------------------------------------
# Runs maintainer script $2 of $1 with arguments $3... as dpkg would on a
# machine booted with systemd, and prints the systemctl calls it made.
# systemd is not PID 1 here, so this runs in a private mount namespace with
# a tmpfs /run holding /run/systemd/system (what the scripts test for), a
# tmpfs /etc/systemd/system holding one enabled instance (mq0), and a
# systemctl on PATH that only records its arguments. Nothing outside the
# namespace changes. After the script, the instance links left are listed.
run_maintainer_script() {
  local dir=$1 script=$2
  shift 2
  : >"$WORK/systemctl.calls"
  unshare -m --propagation private sh -ec '
    calls=$1 stub=$2 script=$3; shift 3
    mount -t tmpfs none /run; mkdir -p /run/systemd/system
    mkdir -p /etc/systemd/system 2>/dev/null || true
    mount -t tmpfs none /etc/systemd/system
    mkdir /etc/systemd/system/multi-user.target.wants
    touch /etc/systemd/system/multi-user.target.wants/mqtt-vpn@mq0.service
    PATH=$stub:$PATH sh "$script" "$@"
    for f in /etc/systemd/system/multi-user.target.wants/*; do [ -e "$f" ] && echo "link ${f##*/}"; done; true
  ' sh "$WORK/systemctl.calls" "$WORK/stub" "$dir/$script" "$@" >"$WORK/links"
  cat "$WORK/systemctl.calls" "$WORK/links"
}
maintainer_scripts() {
  local dir=$1 got
  mkdir -p "$WORK/stub"
  printf '#!/bin/sh
echo "systemctl $*" >>"%s"
' "$WORK/systemctl.calls" >"$WORK/stub/systemctl"
  chmod +x "$WORK/stub/systemctl"
  # what it is, what the systemctl calls and links left must be, the script and its arguments
  expect_maintainer "install: only daemon-reload, nothing started or enabled" \
    "systemctl daemon-reload;link mqtt-vpn@mq0.service;" "$dir" postinst configure
  expect_maintainer "upgrade: restarts only the running instances" \
    "systemctl daemon-reload;systemctl try-restart mqtt-vpn@*.service;link mqtt-vpn@mq0.service;" \
    "$dir" postinst configure 0.0.9
  expect_maintainer "remove: stops mqtt-vpn@*.service" \
    "systemctl stop mqtt-vpn@*.service;link mqtt-vpn@mq0.service;" "$dir" prerm remove
  expect_maintainer "upgrade: prerm leaves the nodes running" \
    "link mqtt-vpn@mq0.service;" "$dir" prerm upgrade 0.2.0
  expect_maintainer "purge: daemon-reload, instance links removed" \
    "systemctl daemon-reload;" "$dir" postrm purge
}
# One maintainer script run checked: label, expected calls and links (';'
# after each), then what run_maintainer_script takes.
expect_maintainer() {
  local label=$1 want=$2 got
  shift 2
  got=$(run_maintainer_script "$@" | tr '\n' ';')
  [[ $got == "$want" ]] && ok "$label ($2 ${*:3})" || bad "$label: $2 ${*:3} ran: $got"
}

debs=("$dist"/mqtt-vpn_"$version"-*.deb)
((${#debs[@]})) || echo "SKIPPED deb: no $dist/mqtt-vpn_$version-*.deb"
for deb in "${debs[@]}"; do
  arch=$(dpkg-deb -f "$deb" Architecture)
  echo "== ${deb##*/} ($(stat -c %s "$deb") bytes)"
  case $arch in
    amd64) triple=x86_64-unknown-linux-musl machine=X86-64 ;;
    arm64) triple=aarch64-unknown-linux-musl machine=AArch64 ;;
    armhf) triple=armv7-unknown-linux-musleabihf machine=ARM ;;
    *) bad "unexpected architecture $arch"; continue ;;
  esac
  # File list and modes (path, mode), from the archive itself.
  dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6, $1 }' | sort >"$WORK/files"
  cat >"$WORK/want" <<'EOF'
/etc/mqtt-vpn/example.toml -rw-------
/usr/lib/systemd/system/mqtt-vpn@.service -rw-r--r--
/usr/sbin/mqtt_vpn -rwxr-xr-x
/usr/share/doc/mqtt-vpn/LICENSE-APACHE -rw-r--r--
/usr/share/doc/mqtt-vpn/LICENSE-MIT -rw-r--r--
/usr/share/doc/mqtt-vpn/README.md -rw-r--r--
/usr/share/doc/mqtt-vpn/copyright -rw-r--r--
EOF
  sort -o "$WORK/want" "$WORK/want"
  if diff -u "$WORK/want" "$WORK/files" >"$WORK/files.diff"; then
    ok "file list and modes ($(wc -l <"$WORK/files") files)"
  else
    bad "file list and modes differ:"; cat "$WORK/files.diff" >&2
  fi
  dpkg-deb -c "$deb" | awk '{ print $2 }' | grep -Eqv '^(0/0|root/root)$' && bad "files not owned by root" || ok "owned by root:root"
  [[ -z $(dpkg-deb -f "$deb" Depends) ]] && ok "no Depends (static binary)" || bad "Depends: $(dpkg-deb -f "$deb" Depends)"
  grep -qx '/etc/mqtt-vpn/example.toml' <(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) &&
    ok "example.toml is a conffile" || bad "example.toml is not a conffile"
  scratch=$WORK/root-$arch
  dpkg -x "$deb" "$scratch"
  dpkg -e "$deb" "$scratch/DEBIAN"
  machine_of=$(readelf -h "$scratch/usr/sbin/mqtt_vpn" | sed -n 's/ *Machine: *//p')
  [[ $machine_of == *"$machine"* ]] && ok "/usr/sbin/mqtt_vpn is $machine_of" || bad "/usr/sbin/mqtt_vpn is $machine_of"
  read -r -a run <<<"$(runner "$triple")"
  out=$("${run[@]}" "$scratch/usr/sbin/mqtt_vpn" --version) && [[ $out == "mqtt_vpn $version ($triple)" ]] &&
    ok "unpacked binary: $out" || bad "unpacked binary --version: ${out:-<none>}"
  for s in postinst prerm postrm; do sh -n "$scratch/DEBIAN/$s" || bad "$s: syntax"; done
  maintainer_scripts "$scratch/DEBIAN"
  unit=$scratch/usr/lib/systemd/system/mqtt-vpn@.service
  grep -q '^ExecStart=/usr/sbin/mqtt_vpn --config /etc/mqtt-vpn/%i.toml --interface %i$' "$unit" &&
    ok "unit: instance %i reads /etc/mqtt-vpn/%i.toml" || bad "unit ExecStart"
  if command -v systemd-analyze >/dev/null; then
    # verify checks ExecStart's binary exists: point it at the unpacked one
    # (runnable here for amd64; for other arches verify only checks the path).
    mkdir -p "$WORK/units-$arch"
    sed "s|/usr/sbin/mqtt_vpn|$scratch/usr/sbin/mqtt_vpn|" "$unit" >"$WORK/units-$arch/mqtt-vpn@mq0.service"
    if (cd "$WORK/units-$arch" && systemd-analyze verify ./mqtt-vpn@mq0.service) >"$WORK/verify.log" 2>&1 &&
      ! grep -v "^$" "$WORK/verify.log" | grep -qi "mqtt-vpn"; then
      ok "systemd-analyze verify mqtt-vpn@mq0.service"
    else
      bad "systemd-analyze verify: $(cat "$WORK/verify.log")"
    fi
  else
    echo "  SKIPPED systemd-analyze verify: not installed"
  fi
done

((fails == 0)) || die "$fails check(s) failed"
echo "test-release: all checks passed"
