#!/usr/bin/env bash
# Tunnel throughput, latency and CPU cost against the broker's own ceiling,
# all measured in one run so the ratios hold on a noisy machine.
#
#   bash bench/tunnel.sh [--duration SECONDS] [--quick] [--json FILE] [--perf DIR] [--streams N]
#                        [--modes "plain encrypted v2 v2-batch enc-nogso enc-2threads jumbo jumbo64k zika"]
#
# Needs root. Builds nothing: run first
#   cargo build --release --bin mqtt_vpn --example broker_bench
#
# Topology: namespace brk runs mosquitto; namespaces h1 and h2 reach it over
# veth pairs (h1 198.18.1.2 <-> 198.18.1.1, h2 198.18.2.2 <-> 198.18.2.1).
# Measured: the broker's ceiling (1400-byte QoS 0 pub in h1 -> sub in h2,
# payload received), the broker round trips (100-byte publish to self, and
# h1 -> broker -> echo client in h2 -> broker -> h1, 20 ms apart like the
# pings: the path a tunnel ping takes, minus the tunnel), then per mode
# (plain; encrypted; enc-nogso = encrypted without TUN offload;
# enc-2threads = encrypted with two runtime threads per node;
# v2 = wire v2, one packet per message (--no-batch); v2-batch = wire v2
# with batches between the two nodes (several packets per message);
# jumbo, jumbo64k = encrypted with MTU 9000, 64000; zika = the zika tunnel,
# if installed, as a peer for comparison) a ping median
# and an iperf3 TCP run through the tunnel 10.0.1.1 (h1) -> 10.0.1.2 (h2),
# with the CPU seconds of both nodes and of mosquitto per GB carried, and the
# PUBLISHes mosquitto received per second of the run with its CPU per
# message (from $SYS/broker/publish/messages/received).
# With --perf DIR, both nodes and mosquitto are sampled by `perf record`
# during each iperf3 run (DIR/perf-<mode>-{node1,node2,broker}.data).
# Everything started is stopped by PID and every namespace deleted on exit.
set -euo pipefail

DURATION=10
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JSON_OUT=$ROOT/bench/results/latest.json
PERF_DIR=
MODES="plain encrypted v2 v2-batch enc-nogso jumbo jumbo64k"
STREAMS=1
while (($#)); do
    case $1 in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --quick) DURATION=3; shift ;;
    --json) JSON_OUT=${2:?--json needs a file}; shift 2 ;;
    --perf) PERF_DIR=${2:?--perf needs a directory}; shift 2 ;;
    --modes) MODES=${2:?--modes needs a list}; shift 2 ;;
    --streams) STREAMS=${2:?--streams needs a count}; shift 2 ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tunnel.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "tunnel.sh: --duration must be whole seconds" >&2; exit 2; }

die() { echo "tunnel.sh: $*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------
[[ $(id -u) == 0 ]] || die "needs root (network namespaces, TUN devices)"
MOSQUITTO=/usr/sbin/mosquitto
[[ -x $MOSQUITTO ]] || die "$MOSQUITTO missing: apt-get install mosquitto"
for tool in ip:iproute2 ss:iproute2 ping:iputils-ping iperf3:iperf3 jq:jq getconf:libc-bin \
    awk:mawk timeout:coreutils mosquitto_sub:mosquitto-clients; do
    command -v "${tool%%:*}" >/dev/null || die "${tool%%:*} missing: apt-get install ${tool#*:}"
done
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
NODE=$TARGET/release/mqtt_vpn
BENCH=$TARGET/release/examples/broker_bench
for bin in "$NODE" "$BENCH"; do
    [[ -x $bin ]] || die "$bin missing: cargo build --release --bin mqtt_vpn --example broker_bench"
done
CLK_TCK=$(getconf CLK_TCK)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- lab and cleanup ---------------------------------------------------------
NS_BRK=mqb-brk-$$
NS_H1=mqb-h1-$$
NS_H2=mqb-h2-$$
WORK=$(mktemp -d /tmp/mqtt-vpn-bench.XXXXXX)
LAB_NAME=tunnel.sh
. "$ROOT/scripts/lab.sh"

# Jiffies the whole machine spent busy, and in all, so far (/proc/stat).
host_busy() {
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# utime + stime of a process in seconds.
cpu_s() {
    awk -v tck="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / tck }' "/proc/$1/stat"
}

add_ns "$NS_BRK"
add_host "$NS_BRK" "$NS_H1" 1
add_host "$NS_BRK" "$NS_H2" 2
start_mosquitto "$MOSQUITTO" "$NS_BRK" $'sys_interval 1\n' || exit 1

echo "tunnel.sh: ${DURATION}s runs, 2 namespaces around mosquitto (pid $MOSQ_PID)" >&2

# --- 1. broker ceiling -------------------------------------------------------
start_in "$NS_H2" sub "$BENCH" sub --broker 198.18.2.1:1883 --topic bench/ceiling \
    --seconds "$DURATION" --warmup 1 --cpu-pid "$MOSQ_PID"
SUB_PID=$LAST_PID
for _ in $(seq 100); do
    grep -q subscribed "$WORK/sub.log" && break
    kill -0 "$SUB_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q subscribed "$WORK/sub.log" || die "broker_bench sub did not subscribe"
start_in "$NS_H1" pub "$BENCH" pub --broker 198.18.1.1:1883 --topic bench/ceiling \
    --size 1400 --seconds $((DURATION + 3))
PUB_PID=$LAST_PID
wait "$SUB_PID" || die "broker_bench sub failed"
wait "$PUB_PID" || die "broker_bench pub failed"
CEIL=$(grep '^{' "$WORK/sub.log")
PUB=$(grep '^{' "$WORK/pub.log")
CEIL_MBIT=$(jq .mbit_per_s <<<"$CEIL")
CEIL_BROKER_S_PER_GB=$(jq --argjson t "$CLK_TCK" '(.cpu_ticks / $t) / (.bytes / 1e9)' <<<"$CEIL")
echo "ceiling: $CEIL" >&2
echo "publisher: $PUB" >&2

# --- 2. broker round trip ----------------------------------------------------
ip netns exec "$NS_H1" "$BENCH" rtt --broker 198.18.1.1:1883 --topic bench/rtt --count 200 --size 100 \
    >"$WORK/rtt.log" 2>&1 || die "broker_bench rtt failed: $(cat "$WORK/rtt.log")"
RTT=$(grep '^{' "$WORK/rtt.log")
echo "broker rtt: $RTT" >&2
start_in "$NS_H2" echo "$BENCH" echo --broker 198.18.2.1:1883 --topic bench/echo \
    --reply-topic bench/echo-reply --seconds 60
ECHO_PID=$LAST_PID
for _ in $(seq 100); do
    grep -q subscribed "$WORK/echo.log" && break
    kill -0 "$ECHO_PID" 2>/dev/null || break
    sleep 0.1
done
ip netns exec "$NS_H1" "$BENCH" rtt --broker 198.18.1.1:1883 --topic bench/echo \
    --reply-topic bench/echo-reply --count 100 --size 100 --interval-ms 20 \
    >"$WORK/echo-rtt.log" 2>&1 || die "broker_bench echo rtt failed: $(cat "$WORK/echo-rtt.log")"
stop_started "$ECHO_PID"
ECHO_RTT=$(grep '^{' "$WORK/echo-rtt.log")
RTT_MS=$(jq '.median_us / 1000' <<<"$ECHO_RTT")
echo "broker echo rtt: $ECHO_RTT" >&2

# --- 3. tunnel modes ---------------------------------------------------------
ROWS=()

# PUBLISH packets the broker has received so far ($SYS, updated every
# second: sys_interval 1), or 0 if it does not answer.
broker_publishes() {
    ip netns exec "$NS_BRK" mosquitto_sub -h 127.0.0.1 -p 1883 -C 1 -W 3 \
        -t '$SYS/broker/publish/messages/received' 2>/dev/null || echo 0
}

# Runs one mode; appends a JSON row to ROWS; returns non-zero on failure
# (the caller records a failed row). Arguments: name, MTU, node flags.
run_mode() {
    local mode=$1 mtu=$2
    shift 2
    start_in "$NS_H1" "$mode-node1" "$NODE" -i mq0 -a 10.0.1.1 -b tcp://198.18.1.1:1883 --mtu "$mtu" "$@"
    local n1=$LAST_PID
    start_in "$NS_H2" "$mode-node2" "$NODE" -i mq0 -a 10.0.1.2 -b tcp://198.18.2.1:1883 --mtu "$mtu" "$@"
    measure "$mode" "$mtu" "$n1" "$LAST_PID" 10.0.1.2
}

# The other Rust IP-over-MQTT tunnel as a peer (zika 3.4.4, `cargo install
# zika`: MQTT 5 with topic aliases, one packet per message, no payload
# encryption): its server in h2, its client in h1, each reading
# zika_config.toml from its working directory. The client reaches the
# server's interface at 10.0.3.2 (zika translates it to the server's own
# address).
run_zika() {
    local mode=$1 mtu=$2 dir
    command -v zika-server >/dev/null && command -v zika-client >/dev/null ||
        { FAILURE="zika-server/zika-client not on PATH (cargo install zika --version 3.4.4)"; return 1; }
    for side in server client; do
        dir=$WORK/zika-$side
        mkdir -p "$dir"
        {
            printf '[mqtt]\n[[mqtt.brokers]]\n'
            if [[ $side == server ]]; then
                printf 'host = "198.18.2.1"\nport = 1883\n[server]\ntopic = "zika/bench"\nbind_cidr = "10.0.2.0/24"\n'
            else
                printf 'host = "198.18.1.1"\nport = 1883\n[client]\nbind_cidr = "10.0.3.0/24"\n'
                printf '[[client.tunnels]]\ntopic = "zika/bench"\nbind_addr = "10.0.3.2"\n'
            fi
        } >"$dir/zika_config.toml"
    done
    start_in "$NS_H2" "$mode-node2" sh -c "cd '$WORK/zika-server' && exec zika-server"
    local n2=$LAST_PID
    sleep 0.5
    start_in "$NS_H1" "$mode-node1" sh -c "cd '$WORK/zika-client' && exec zika-client"
    measure "$mode" "$mtu" "$LAST_PID" "$n2" 10.0.3.2
}

# Measures a started pair: name, MTU, sender PID, receiver PID, the
# receiver's address as the sender reaches it.
measure() {
    local mode=$1 mtu=$2 n1=$3 n2=$4 dst=$5 srv up=0 pings c0 c1 m0 m1 bytes bps row
    for _ in $(seq 20); do
        if ip netns exec "$NS_H1" ping -n -q -c1 -W1 "$dst" >/dev/null 2>&1; then up=1; break; fi
        kill -0 "$n1" 2>/dev/null && kill -0 "$n2" 2>/dev/null || break
        sleep 0.2
    done
    ((up)) || { FAILURE="tunnel did not come up"; return 1; }
    pings=$(ip netns exec "$NS_H1" ping -n -c 100 -i 0.02 -s 56 -W 1 "$dst" |
        grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR }') || true
    [[ -n $pings ]] || { FAILURE="no ping replies"; return 1; }
    start_in "$NS_H2" "$mode-iperf-server" iperf3 -s -1
    srv=$LAST_PID
    for _ in $(seq 50); do
        [[ -n $(ip netns exec "$NS_H2" ss -Hltn 'sport = :5201') ]] && break
        sleep 0.1
    done
    local perf_pids=()
    if [[ -n $PERF_DIR ]]; then
        mkdir -p "$PERF_DIR"
        for n in node1 node2 broker; do
            local target=$n1
            [[ $n == node2 ]] && target=$n2
            [[ $n == broker ]] && target=$MOSQ_PID
            perf record -e cpu-clock -F 2000 -g -p "$target" -o "$PERF_DIR/perf-$mode-$n.data" \
                -- sleep "$DURATION" >"$WORK/perf-$mode-$n.log" 2>&1 &
            perf_pids+=("$!")
            PIDS+=("$!")
        done
    fi
    m0=$(broker_publishes)
    local busy0 busy1
    busy0=$(host_busy)
    c0="$(cpu_s "$n1") $(cpu_s "$n2") $(cpu_s "$MOSQ_PID")"
    timeout $((DURATION + 30)) ip netns exec "$NS_H1" iperf3 -c "$dst" -t "$DURATION" -P "$STREAMS" -J \
        >"$WORK/$mode-iperf.json" 2>"$WORK/$mode-iperf.err" || {
        FAILURE="iperf3 failed: $(jq -r '.error // empty' "$WORK/$mode-iperf.json" 2>/dev/null)"
        return 1
    }
    c1="$(cpu_s "$n1") $(cpu_s "$n2") $(cpu_s "$MOSQ_PID")"
    busy1=$(host_busy)
    # Peak resident memory of each node over its life (VmHWM), in MB.
    local rss
    rss=$(for p in "$n1" "$n2"; do awk '/^VmHWM/ { printf "%.2f ", $2 / 1024 }' "/proc/$p/status"; done)
    sleep 1.2 # the next $SYS update covers the whole run
    m1=$(broker_publishes)
    local p
    for p in "${perf_pids[@]}"; do
        wait "$p" 2>/dev/null || true
        stop_started "$p"
    done
    stop_started "$srv"
    bytes=$(jq '.end.sum_received.bytes' "$WORK/$mode-iperf.json")
    bps=$(jq '.end.sum_received.bits_per_second' "$WORK/$mode-iperf.json")
    local retransmits unavailable=0 n
    retransmits=$(jq '.end.sum_sent.retransmits // 0' "$WORK/$mode-iperf.json")
    # Packets our nodes dropped because every batch to the broker was in
    # flight (their counters line, on SIGUSR1; zika has none).
    if [[ $mode != zika ]]; then
        kill -USR1 "$n1" "$n2" 2>/dev/null || true
        sleep 0.3
        for n in 1 2; do
            n=$(grep -o 'dropped_broker_unavailable=[0-9]*' "$WORK/$mode-node$n.log" | tail -n1 | cut -d= -f2)
            unavailable=$((unavailable + ${n:-0}))
        done
    fi
    ((${bytes%.*} > 0)) || { FAILURE="iperf3 carried nothing"; return 1; }
    row=$(jq -n --arg mode "$mode" --argjson mtu "$mtu" --argjson bytes "$bytes" --argjson bps "$bps" \
        --argjson ping_ms "${pings% *}" --argjson pings "${pings#* }" \
        --argjson c0 "[${c0// /,}]" --argjson c1 "[${c1// /,}]" --argjson rss "[$(tr ' ' ',' <<<"${rss% }")]" \
        --argjson msgs "$((${m1:-0} - ${m0:-0}))" --argjson duration "$DURATION" \
        --argjson busy0 "[${busy0// /,}]" --argjson busy1 "[${busy1// /,}]" --argjson retransmits "$retransmits" \
        --argjson unavailable "$unavailable" \
        --argjson ceil "$CEIL_MBIT" --argjson rtt "$RTT_MS" --argjson brk0 "$CEIL_BROKER_S_PER_GB" '
        ($bytes / 1e9) as $gb | [range(3) | ($c1[.] - $c0[.]) * 1000 | round / 1000] as $cpu |
        ([$cpu[0], $cpu[1]] | max / $gb) as $node |
        {mode: $mode, ok: true, mtu: $mtu, mbit_per_s: ($bps / 1e6), x_ceiling: ($bps / 1e6 / $ceil),
         ping_median_ms: $ping_ms, ping_replies: $pings, x_broker_rtt: ($ping_ms / $rtt),
         bytes: $bytes, cpu_s: {node1: $cpu[0], node2: $cpu[1], broker: $cpu[2]},
         node1_s_per_gb: ($cpu[0] / $gb), node2_s_per_gb: ($cpu[1] / $gb),
         node_s_per_gb: $node, broker_s_per_gb: ($cpu[2] / $gb),
         x_broker_cpu: (if $cpu[2] > 0 then $node / ($cpu[2] / $gb) else null end),
         x_ceiling_broker_cpu: (if $brk0 > 0 then $node / $brk0 else null end),
         rss_mb: {node1: $rss[0], node2: $rss[1]}, tcp_retransmits: $retransmits,
         dropped_broker_unavailable: $unavailable,
         host_busy: (($busy1[0] - $busy0[0]) / (($busy1[1] - $busy0[1]) | if . > 0 then . else 1 end)),
         broker_msgs: $msgs, broker_msgs_per_s: ($msgs / $duration),
         broker_us_per_msg: (if $msgs > 0 then $cpu[2] * 1e6 / $msgs else null end)}') || return 1
    ROWS+=("$row")
    stop_started "$n1"
    stop_started "$n2"
}

# name, MTU, node flags
declare -A SPECS=(
    [plain]="1500"
    [encrypted]="1500 -k benchpw"
    [enc-nogso]="1500 -k benchpw --no-offload"
    [enc-2threads]="1500 -k benchpw --threads 2"
    [jumbo]="9000 -k benchpw"
    [jumbo64k]="64000 -k benchpw"
    [v2]="1500 -k benchpw --wire v2 --no-batch"
    [v2-batch]="1500 -k benchpw --wire v2"
    [v2-batch-2t]="1500 -k benchpw --wire v2 --threads 2"
    [zika]="1500"
)
for mode in $MODES; do
    [[ -n ${SPECS[$mode]:-} ]] || die "unknown mode $mode (known: ${!SPECS[*]})"
    read -r -a words <<<"$mode ${SPECS[$mode]}"
    echo "mode ${words[0]}..." >&2
    # Run in the current shell (not a subshell) so its PIDs stay tracked;
    # errexit is off inside, so each step checks its own status.
    FAILURE="failed"
    runner=run_mode
    [[ ${words[0]} == zika ]] && runner=run_zika
    if ! "$runner" "${words[@]}"; then
        echo "${words[0]}: $FAILURE" >&2
        ROWS+=("$(jq -n --arg mode "${words[0]}" --argjson mtu "${words[1]}" --arg why "$FAILURE" \
            '{mode: $mode, ok: false, mtu: $mtu, failure: $why}')")
        for f in "$WORK/${words[0]}"-node*.log; do
            echo "--- $(basename "$f")" >&2
            tail -n 5 "$f" >&2
        done
    fi
    # Stop whatever the mode left running, except the broker.
    for pid in "${PIDS[@]}"; do [[ $pid == "$MOSQ_PID" ]] || stop_started "$pid"; done
done

# --- report ------------------------------------------------------------------
RESULT=$(printf '%s\n' "${ROWS[@]}" | jq -s --argjson ceiling "$CEIL" --argjson rtt "$RTT" --argjson echo_rtt "$ECHO_RTT" --argjson pub "$PUB" \
    --argjson brk0 "$CEIL_BROKER_S_PER_GB" --argjson duration "$DURATION" --arg host "$(uname -n)" \
    --argjson cpus "$(nproc)" --arg date "$(date -u +%FT%TZ)" --arg load0 "$LOAD0" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg)" '
    {date: $date, host: $host, cpus: $cpus, duration_s: $duration, loadavg_start: $load0, loadavg_end: $load1,
     broker: {ceiling: ($ceiling + {message_bytes: 1400, broker_s_per_gb: $brk0, publisher: $pub}), rtt: $rtt,
             echo_rtt: $echo_rtt},
     modes: .}')

printf '\nbroker ceiling: %.1f Mbit/s payload (%.0f msg/s of 1400 B), broker %.2f CPU s/GB\n' \
    "$CEIL_MBIT" "$(jq .msgs_per_s <<<"$CEIL")" "$CEIL_BROKER_S_PER_GB"
printf '  (publisher offered %.1f Mbit/s; load average %s at start, %s at end, %s CPUs)\n' \
    "$(jq .mbit_per_s <<<"$PUB")" "$LOAD0" "$(jq -r .loadavg_end <<<"$RESULT")" "$(nproc)"
printf 'broker RTT (100 B publish to self): median %.3f ms, p90 %.3f ms\n' \
    "$(jq '.median_us / 1000' <<<"$RTT")" "$(jq '.p90_us / 1000' <<<"$RTT")"
printf 'broker echo RTT (h1 -> h2 -> h1, 100 B, 20 ms apart): median %.3f ms, p90 %.3f ms\n\n' \
    "$RTT_MS" "$(jq '.p90_us / 1000' <<<"$ECHO_RTT")"
printf '%-10s %8s %7s %8s %7s %9s %9s %7s %7s %9s %8s %11s %5s\n' mode Mbit/s xceil ping_ms xrtt node_s/GB brk_s/GB xbrk xbrk0 brk_msg/s us/msg rss_MB busy
jq -r '.modes[] | if .ok then [.mode, .mbit_per_s, .x_ceiling, .ping_median_ms, .x_broker_rtt,
    .node_s_per_gb, .broker_s_per_gb, (.x_broker_cpu // 0), (.x_ceiling_broker_cpu // 0),
    .broker_msgs_per_s, (.broker_us_per_msg // 0), .rss_mb.node1, .rss_mb.node2, .host_busy] | @tsv
    else [.mode, "FAILED: " + .failure] | @tsv end' <<<"$RESULT" |
    awk -F'\t' 'NF == 2 { printf "%-10s %s\n", $1, $2; next }
        { printf "%-10s %8.1f %7.3f %8.3f %7.2f %9.2f %9.2f %7.2f %7.2f %9.0f %8.1f %5.1f/%-5.1f %4.0f%%\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 * 100 }'
echo
echo "xceil: tunnel TCP goodput / broker payload ceiling; xrtt: ping median / broker echo RTT median;"
echo "node_s/GB: max of the two nodes; xbrk: that / broker s/GB in the same run; xbrk0: / ceiling run's;"
echo "brk_msg/s: PUBLISHes the broker received per second of the TCP run (\$SYS); us/msg: its CPU per one;"
echo "rss_MB: peak resident memory (VmHWM) of the sending / receiving node; busy: the machine's CPUs"
echo "busy during the TCP run (all processes, kernel included; 100% = every core)"

mkdir -p "$(dirname "$JSON_OUT")"
printf '%s\n' "$RESULT" >"$JSON_OUT"
echo "wrote $JSON_OUT" >&2
