# The test lab of the shell scripts that build network namespaces and start
# processes (bench/tunnel.sh, bench/soak.sh, scripts/test-release.sh).
# Sourced, after the script set LAB_NAME (for its messages) and WORK (a
# scratch directory, removed on exit). Everything started through it is
# stopped by PID, and every namespace it made deleted, however the script
# ends. Veths use 198.18.0.0/15; VPN addresses exist only inside the
# namespaces.

PIDS=()
NAMESPACES=()

# Stops one process we started: SIGTERM, SIGKILL after 3 s.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    for i in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Stops a started process and forgets it.
stop_started() {
    local pid=$1 kept=() p
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}

lab_cleanup() {
    local rc=$? pid ns
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    if ((rc == 130 || rc == 143)); then
        echo "$LAB_NAME: interrupted; cleaned up" >&2
    elif ((rc != 0)); then
        echo "$LAB_NAME: failed (exit $rc); last lines of the logs:" >&2
        tail -n 8 "$WORK"/*.log "$WORK"/*.err >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap lab_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts `$3...` in namespace $1, output to $WORK/$2.log; sets LAST_PID.
# `ip netns exec` execs the program, so the PID is the program's own.
start_in() {
    local ns=$1 name=$2
    shift 2
    ip netns exec "$ns" "$@" >"$WORK/$name.log" 2>&1 </dev/null &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# Makes namespace $1 with its loopback up.
add_ns() {
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# Makes host namespace $2, number $3, linked to the broker's namespace $1:
# v$3 198.18.$3.1 there, eth0 198.18.$3.2 in the host.
add_host() {
    local brk=$1 ns=$2 n=$3
    add_ns "$ns"
    ip -n "$brk" link add "v$n" type veth peer name eth0 netns "$ns"
    ip -n "$brk" addr add "198.18.$n.1/24" dev "v$n"
    ip -n "$brk" link set "v$n" up
    ip -n "$ns" addr add "198.18.$n.2/24" dev eth0
    ip -n "$ns" link set eth0 up
}

# Starts mosquitto ($1) in namespace $2 on port 1883 of every address, with
# the extra configuration lines $3; waits until it listens; sets MOSQ_PID.
start_mosquitto() {
    local mosquitto=$1 ns=$2 extra=${3:-}
    printf 'listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\n%s' "$extra" \
        >"$WORK/mosquitto.conf"
    start_in "$ns" mosquitto "$mosquitto" -c "$WORK/mosquitto.conf"
    MOSQ_PID=$LAST_PID
    for _ in $(seq 100); do
        ip netns exec "$ns" bash -c 'exec 3<>/dev/tcp/127.0.0.1/1883' 2>/dev/null && return 0
        kill -0 "$MOSQ_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "$LAB_NAME: mosquitto does not listen: $(tail -n 3 "$WORK/mosquitto.log")" >&2
    return 1
}
