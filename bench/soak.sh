#!/usr/bin/env bash
# Soak: the encrypted tunnel under moderate load for a long time, watching
# each node's resident memory and open file descriptors.
#
#   bash bench/soak.sh [--duration SECONDS] [--warmup SECONDS] [--rate BITS]
#                      [--interval SECONDS] [--node PATH] [--csv FILE]
#
# Needs root. Without --node it runs `cargo build --release --bin mqtt_vpn`
# (quick when up to date) and uses target/release/mqtt_vpn.
#
# Topology as in bench/tunnel.sh: mosquitto in namespace brk, node 10.0.1.1
# in h1 and node 10.0.1.2 in h2, each host joined to brk by a veth pair
# (198.18.n.2 <-> 198.18.n.1), both nodes with a VPN password. Load: iperf3
# TCP both ways between the nodes at --rate per direction (default 20M) in
# runs of 60 s, back to back. Every --interval seconds (10) the RSS and fd
# count of both nodes and of mosquitto go to a CSV (default
# bench/results/soak-<time>.csv) with whether one ping crossed h1 -> h2.
#
# Fails (exit 1) when a node dies, when the tunnel stops carrying traffic (an
# iperf3 run carries nothing either way, or 3 ping checks in a row fail),
# when a node's fd count at the end is above the one after warm-up, or when
# its RSS at the end exceeds the one after warm-up by more than 10 % or
# 2 MiB, whichever is larger. Warm-up: --warmup, default a sixth of the
# duration, between 20 and 300 s. Everything started is stopped by PID and
# every namespace deleted on exit, also on failure or Ctrl-C.
set -euo pipefail

DURATION=1800
WARMUP=
RATE=20M
INTERVAL=10
NODE=
CSV=
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
while (($#)); do
    case $1 in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --warmup) WARMUP=${2:?--warmup needs a value}; shift 2 ;;
    --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
    --interval) INTERVAL=${2:?--interval needs a value}; shift 2 ;;
    --node) NODE=${2:?--node needs a path}; shift 2 ;;
    --csv) CSV=${2:?--csv needs a file}; shift 2 ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in DURATION INTERVAL; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "soak.sh: --${v,,} must be whole seconds" >&2; exit 2; }
done
if [[ -z $WARMUP ]]; then
    WARMUP=$((DURATION / 6))
    if ((WARMUP < 20)); then WARMUP=20; fi
    if ((WARMUP > 300)); then WARMUP=300; fi
fi
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "soak.sh: --warmup must be whole seconds" >&2; exit 2; }
((WARMUP < DURATION)) || { echo "soak.sh: --warmup must be shorter than --duration" >&2; exit 2; }
[[ $RATE =~ ^[0-9]+[KMG]?$ ]] || { echo "soak.sh: --rate is iperf3's -b, like 20M" >&2; exit 2; }

die() { echo "soak.sh: $*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------
[[ $(id -u) == 0 ]] || die "needs root (network namespaces, TUN devices)"
MOSQUITTO=/usr/sbin/mosquitto
[[ -x $MOSQUITTO ]] || die "$MOSQUITTO missing: apt-get install mosquitto"
for tool in ip:iproute2 ss:iproute2 ping:iputils-ping iperf3:iperf3 jq:jq awk:mawk timeout:coreutils; do
    command -v "${tool%%:*}" >/dev/null || die "${tool%%:*} missing: apt-get install ${tool#*:}"
done
if [[ -z $NODE ]]; then
    (cd "$ROOT" && cargo build --release --bin mqtt_vpn) || die "cargo build failed"
    NODE=${CARGO_TARGET_DIR:-$ROOT/target}/release/mqtt_vpn
fi
[[ -x $NODE ]] || die "$NODE is not an executable"
CSV=${CSV:-$ROOT/bench/results/soak-$(date -u +%Y%m%d-%H%M%S).csv}
mkdir -p "$(dirname "$CSV")"

# --- lab and cleanup ---------------------------------------------------------
NS_BRK=mqs-brk-$$
NS_H1=mqs-h1-$$
NS_H2=mqs-h2-$$
WORK=$(mktemp -d /tmp/mqtt-vpn-soak.XXXXXX)
LAB_NAME=soak.sh
. "$ROOT/scripts/lab.sh"

add_ns "$NS_BRK"
add_host "$NS_BRK" "$NS_H1" 1
add_host "$NS_BRK" "$NS_H2" 2
start_mosquitto "$MOSQUITTO" "$NS_BRK" || exit 1

start_in "$NS_H1" node1 "$NODE" -i mq0 -a 10.0.1.1 -b tcp://198.18.1.1:1883 -k soakpw
N1=$LAST_PID
start_in "$NS_H2" node2 "$NODE" -i mq0 -a 10.0.1.2 -b tcp://198.18.2.1:1883 -k soakpw
N2=$LAST_PID
NODE_PIDS=("$N1" "$N2")

ping_once() { ip netns exec "$NS_H1" ping -n -q -c1 -W2 10.0.1.2 >/dev/null 2>&1; }
up=0
for _ in $(seq 50); do
    if ping_once; then up=1; break; fi
    kill -0 "$N1" 2>/dev/null && kill -0 "$N2" 2>/dev/null || break
    sleep 0.2
done
((up)) || die "the tunnel did not come up"

start_in "$NS_H2" iperf-server iperf3 -s -B 10.0.1.2
for _ in $(seq 50); do
    [[ -n $(ip netns exec "$NS_H2" ss -Hltn 'sport = :5201') ]] && break
    sleep 0.1
done

# --- the soak ----------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

FAILURES=()
IPERF_PID=
IPERF_RUNS=0
IPERF_GB=0
run_no=0

# Checks the finished iperf3 run $1: both directions carried data.
check_iperf() {
    local json=$WORK/iperf-$1.json fwd rev
    fwd=$(jq '.end.sum_received.bytes // 0' "$json" 2>/dev/null || echo 0)
    rev=$(jq '.end.sum_received_bidir_reverse.bytes // 0' "$json" 2>/dev/null || echo 0)
    if ((${fwd%.*} == 0 || ${rev%.*} == 0)); then
        FAILURES+=("iperf3 run $1 carried $fwd bytes h1 -> h2 and $rev back: $(jq -r '.error // empty' "$json" 2>/dev/null)")
        return 1
    fi
    IPERF_RUNS=$((IPERF_RUNS + 1))
    IPERF_GB=$(awk -v t="$IPERF_GB" -v a="$fwd" -v b="$rev" 'BEGIN { printf "%.3f", t + (a + b) / 1e9 }')
}

echo "t_s,node1_rss_kib,node1_fds,node2_rss_kib,node2_fds,mosquitto_rss_kib,mosquitto_fds,ping_ok" >"$CSV"
echo "soak.sh: ${DURATION}s (warm-up ${WARMUP}s), iperf3 both ways at $RATE each, samples every ${INTERVAL}s into $CSV" >&2
START=$SECONDS
next=0
misses=0
while :; do
    t=$((SECONDS - START))
    # iperf3: one run of up to 60 s at a time, back to back.
    if [[ -n $IPERF_PID ]] && ! kill -0 "$IPERF_PID" 2>/dev/null; then
        wait "$IPERF_PID" 2>/dev/null || true
        IPERF_PID=
        check_iperf "$run_no" || break
    fi
    left=$((DURATION - t))
    if [[ -z $IPERF_PID ]] && ((left >= 5)); then
        run_no=$((run_no + 1))
        secs=$((left < 60 ? left - 2 : 60))
        ip netns exec "$NS_H1" timeout $((secs + 30)) iperf3 -c 10.0.1.2 --bidir -b "$RATE" -t "$secs" -J \
            >"$WORK/iperf-$run_no.json" 2>"$WORK/iperf-$run_no.err" </dev/null &
        IPERF_PID=$!
        PIDS+=("$IPERF_PID")
    fi
    if ((t >= next)); then
        dead=
        for i in 0 1; do kill -0 "${NODE_PIDS[$i]}" 2>/dev/null || dead+=" node$((i + 1))"; done
        if [[ -n $dead ]]; then FAILURES+=("died at ${t}s:$dead"); break; fi
        if ping_once; then ok=1 misses=0; else ok=0 misses=$((misses + 1)); fi
        echo "$t,$(rss_kib "$N1"),$(fds "$N1"),$(rss_kib "$N2"),$(fds "$N2"),$(rss_kib "$MOSQ_PID"),$(fds "$MOSQ_PID"),$ok" >>"$CSV"
        if ((misses >= 3)); then FAILURES+=("the tunnel carried no ping in 3 checks in a row (at ${t}s)"); break; fi
        next=$((next + INTERVAL))
    fi
    if ((t >= DURATION)); then break; fi
    sleep 1
done
if [[ -n $IPERF_PID ]]; then
    if ((${#FAILURES[@]})); then
        stop_pid "$IPERF_PID"
    else
        wait "$IPERF_PID" 2>/dev/null || true
        check_iperf "$run_no" || true
    fi
fi

# Counters of each node still running (SIGUSR1 logs them).
for i in 1 2; do
    pid=${NODE_PIDS[$((i - 1))]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -USR1 "$pid"
    sleep 0.5
    echo "node$i $(grep -o 'counters:.*' "$WORK/node$i.log" | tail -n 1)"
done

# --- report ------------------------------------------------------------------
# Per process: first, after warm-up (first sample at or past it), last and
# max of RSS and fds; the verdict on growth from warm-up to last.
REPORT=$(awk -F, -v warm="$WARMUP" '
    NR == 1 { next }
    {
        n++
        for (c = 2; c <= 7; c++) {
            if (n == 1) first[c] = $c
            if (!(c in warmv) && $1 >= warm) warmv[c] = $c
            last[c] = $c
            if ($c > max[c]) max[c] = $c
        }
        pings += $8; samples++
    }
    END {
        split("node1 node2 mosquitto", names, " ")
        for (p = 1; p <= 3; p++) {
            r = 2 * p; f = r + 1
            if (!(r in warmv)) { warmv[r] = last[r]; warmv[f] = last[f] }
            limit = warmv[r] * 0.10; if (limit < 2048) limit = 2048
            verdict = "ok"
            if (p < 3 && last[r] - warmv[r] > limit) verdict = sprintf("RSS grew %d KiB > %d", last[r] - warmv[r], limit)
            if (p < 3 && last[f] > warmv[f]) verdict = sprintf("fds grew %d -> %d", warmv[f], last[f])
            if (p == 3) verdict = "(not judged)"
            printf "%-10s %8d %8d %8d %8d   %4d %4d %4d %4d   %s\n", names[p], first[r], warmv[r], last[r], max[r], first[f], warmv[f], last[f], max[f], verdict
        }
        printf "pings: %d of %d checks crossed\n", pings, samples
    }' "$CSV")
echo
printf '%-10s %8s %8s %8s %8s   %4s %4s %4s %4s   %s\n' "" "RSS KiB:" "" "" "" "fds:" "" "" "" ""
printf '%-10s %8s %8s %8s %8s   %4s %4s %4s %4s   %s\n' process first warm-up last max first warm last max verdict
echo "$REPORT"
echo "iperf3: $IPERF_RUNS runs, $IPERF_GB GB carried; $((SECONDS - START)) s; CSV: $CSV"
while read -r line; do
    if [[ $line == node* && $line != *" ok" ]]; then FAILURES+=("$line"); fi
done <<<"$REPORT"

if ((${#FAILURES[@]})); then
    printf 'FAILED: %s\n' "${FAILURES[@]}"
    exit 1
fi
echo "PASSED"
