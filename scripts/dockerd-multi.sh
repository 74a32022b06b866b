#!/usr/bin/env bash
# Extra Docker daemons for multi-daemon tests, side by side with the default one.
#
#   dockerd-multi.sh up N     start daemons 1..N (N = 1..3); prints one URL per line on stdout:
#                               unix:///run/ganger-test/dockerd-K.sock
#   dockerd-multi.sh check    on every running extra daemon: build ganger-echo, run one container,
#                               echo through its bridge IP from the host, remove it
#   dockerd-multi.sh status   one line per daemon K: socket, tcp:// URL (or -), pid, up/down, bridge address
#   dockerd-multi.sh down     stop every extra daemon; remove its bridge, data and exec roots
#
# Daemon K has its own -H unix:///run/ganger-test/dockerd-K.sock, --pidfile, --exec-root
# /run/ganger-test/eK, --data-root /var/lib/ganger-test/dK, an empty --config-file, and its own
# Linux bridge ganger-brK holding 10.213.K.1/24 (passed with --bridge), so containers get
# 10.213.K.x and the host reaches them directly (the route comes with the bridge address).
# --bip cannot be used for several daemons: every daemon would manage the same docker0.
# --iptables=false: the daemons would otherwise share and rewrite the same DOCKER chains;
# host-to-container traffic does not need NAT or forwarding rules.
#
# Environment: DOCKER_UP_TIMEOUT (seconds to wait for each /_ping, default 60),
#   GANGER_MULTI_NET (first two octets of the bridges' subnets, default 10.213),
#   GANGER_MULTI_BRIDGE (prefix of the bridges' and cgroup parents' names, default ganger-br),
#   GANGER_MULTI_TCP (daemon K also listens on plain TCP on loopback: `auto` picks a free port
#     for each daemon when it starts, a number BASE gives it BASE+K; either way the URL is
#     recorded in $GANGER_RUN_DIR/dockerd-K.tcp, which the tests read, and `up` prints the
#     tcp://127.0.0.1:PORT lines after the unix ones),
#   GANGER_MULTI_TLS (a directory with ca.pem, server-cert.pem, server-key.pem: the daemons
#     started by this run require mutual TLS on their tcp:// port, --tlsverify),
#   GANGER_RUN_DIR, GANGER_STATE_DIR, GANGER_LOG_DIR (lib-docker.sh): with the three above, a
#     second, independent set of daemons (Tests/IntegrationTests/Support/TCPDaemons.swift).
#   DOCKER_STORAGE_DRIVER (default: overlay2 if an overlay mount works, else vfs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib-docker.sh
source "$here/lib-docker.sh"

MAX=3
TIMEOUT="${DOCKER_UP_TIMEOUT:-60}"
NET="${GANGER_MULTI_NET:-10.213}"
BRIDGE="${GANGER_MULTI_BRIDGE:-ganger-br}"
TCP_BASE="${GANGER_MULTI_TCP:-}"
TLS_DIR="${GANGER_MULTI_TLS:-}"
# Cgroup parents: /ganger-dK for the default set (as before), /<bridge prefix>-dK otherwise.
CGROUP_PREFIX=$([[ $BRIDGE == ganger-br ]] && echo ganger || echo "$BRIDGE")
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "DOCKER_UP_TIMEOUT must be a number of seconds, got '$TIMEOUT'"
[[ $NET =~ ^[0-9]+\.[0-9]+$ ]] || die "GANGER_MULTI_NET must look like 10.213, got '$NET'"
[[ $BRIDGE =~ ^[a-z][a-z0-9-]{0,11}$ ]] || die "GANGER_MULTI_BRIDGE must be a short name like ganger-br, got '$BRIDGE'"
[[ -z $TCP_BASE || $TCP_BASE == auto || $TCP_BASE =~ ^[0-9]+$ ]] \
    || die "GANGER_MULTI_TCP must be auto or a port number, got '$TCP_BASE'"

sock_of() { printf '%s/dockerd-%s.sock\n' "$GANGER_RUN_DIR" "$1"; }
pidfile_of() { printf '%s/dockerd-%s.pid\n' "$GANGER_RUN_DIR" "$1"; }
exec_root_of() { printf '%s/e%s\n' "$GANGER_RUN_DIR" "$1"; } # short: containerd socket paths live below
data_root_of() { printf '%s/d%s\n' "$GANGER_STATE_DIR" "$1"; }
log_of() { printf '%s/dockerd-%s.log\n' "$GANGER_LOG_DIR" "$1"; }
bridge_of() { printf '%s%s\n' "$BRIDGE" "$1"; }
tcp_file_of() { printf '%s/dockerd-%s.tcp\n' "$GANGER_RUN_DIR" "$1"; }
addr_of() { printf '%s.%s.1/24\n' "$NET" "$1"; }
# Address pools for user-defined networks, distinct per daemon and from docker0's 172.17-31/16.
pool_of() { printf 'base=%s.%s.0/20,size=24\n' "${NET%.*}.$((${NET#*.} + 1))" "$(($1 * 16))"; }

# pick_free_port -> sets PICKED_PORT to a loopback TCP port that no socket uses now (probed with
# ss), in 20000..32767: below Linux's default ephemeral range (32768..60999), so no outgoing
# connection is handed it before dockerd binds it. Ports this run picked already are skipped (their
# daemons may not have bound them yet). One taken in the gap anyway makes that dockerd exit with
# "address already in use"; cmd_up then starts it again on another port.
PICKED_PORTS=()
pick_free_port() {
    local i p used
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12768))
        [[ " ${PICKED_PORTS[*]} " == *" $p "* ]] && continue
        used=$(ss -Htan "sport = :$p") || die "ss -Htan failed: cannot probe for a free port"
        if [[ -z $used ]]; then
            PICKED_PORTS+=("$p")
            PICKED_PORT=$p
            return 0
        fi
    done
    die "no free loopback port in 20000..32767 after 200 tries"
}

# tcp_url_of K -> prints daemon K's tcp:// URL: the recorded one, or for a running daemon started
# before URLs were recorded, the tcp:// address on its command line (then recorded).
tcp_url_of() {
    local f pid url
    f=$(tcp_file_of "$1")
    if [[ -s $f ]]; then
        cat "$f"
        return 0
    fi
    pid=$(running_pid "$1") || return 1
    url=$(tr '\0' '\n' <"/proc/$pid/cmdline" | grep -m1 '^tcp://') || return 1
    printf '%s\n' "$url" | tee "$f"
}

# port_was_taken K -> 0 if daemon K's latest start (after the last "=== " header of its log)
# failed because its tcp:// port was in use.
port_was_taken() {
    awk '/^=== /{run=""} {run=run $0 "\n"} END{printf "%s", run}' "$(log_of "$1")" 2>/dev/null \
        | grep -q 'address already in use'
}

# running_pid K -> prints the pid of daemon K if its pidfile names a live dockerd.
running_pid() {
    local f pid
    f=$(pidfile_of "$1")
    [[ -r $f ]] || return 1
    pid=$(cat "$f")
    pid_is_dockerd "$pid" || return 1
    printf '%s\n' "$pid"
}

ensure_bridge() {
    local br addr
    br=$(bridge_of "$1")
    addr=$(addr_of "$1")
    if ! ip link show "$br" >/dev/null 2>&1; then
        ip link add name "$br" type bridge || die "cannot create bridge $br (ip link add ... type bridge)"
    fi
    if ! ip -4 addr show dev "$br" | grep -qw "inet $addr"; then
        ip addr flush dev "$br"
        ip addr add "$addr" dev "$br" || die "cannot add $addr to $br"
    fi
    ip link set "$br" up || die "cannot bring $br up"
}

start_one() {
    local k=$1 driver=$2 sock pidf logf xroot droot conf
    sock=$(sock_of "$k")
    pidf=$(pidfile_of "$k")
    logf=$(log_of "$k")
    xroot=$(exec_root_of "$k")
    droot=$(data_root_of "$k")
    conf="$GANGER_STATE_DIR/d$k.json"
    mkdir -p "$xroot" "$droot"
    # A daemon that died uncleanly (SIGKILL in the tests) left network sandboxes behind; on
    # restart dockerd 20.10 "removes stale sandbox" for each, and twice here that coincided with
    # the host's docker0 vanishing under the default daemon. Start such a daemon without its
    # network store: its containers are gone with it anyway.
    if [[ -r $pidf ]] && ! pid_is_dockerd "$(cat "$pidf")"; then
        log "daemon $k died uncleanly: dropping its network store before it starts again"
        umount_under "$xroot/netns"
        rm -rf "$droot/network"
    fi
    # Our own (empty) config file: /etc/docker/daemon.json is the default daemon's business.
    [[ -s $conf ]] || printf '{}\n' >"$conf"
    ensure_bridge "$k"
    local flags=(
        -H "unix://$sock"
        --pidfile "$pidf"
        --exec-root "$xroot"
        --data-root "$droot"
        --config-file "$conf"
        --storage-driver "$driver"
        --bridge "$(bridge_of "$k")"
        --iptables=false
        --ip-masq=false
        --default-address-pool "$(pool_of "$k")"
        --cgroup-parent "/$CGROUP_PREFIX-d$k"
    )
    # Loopback only and plain TCP: the tests' stand-in for a remote daemon (never another address).
    if [[ -n $TCP_BASE ]]; then
        local port
        if [[ $TCP_BASE == auto ]]; then
            pick_free_port
            port=$PICKED_PORT
        else
            port=$((TCP_BASE + k))
        fi
        printf 'tcp://127.0.0.1:%s\n' "$port" >"$(tcp_file_of "$k")"
        flags+=(-H "tcp://127.0.0.1:$port")
    fi
    if [[ -n $TLS_DIR ]]; then
        flags+=(--tlsverify --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/server-cert.pem" --tlskey "$TLS_DIR/server-key.pem")
    fi
    printf '\n=== %s dockerd-multi: dockerd %s\n' "$(date -Is)" "${flags[*]}" >>"$logf"
    setsid dockerd "${flags[@]}" </dev/null >>"$logf" 2>&1 9>&- &
    log "daemon $k: started dockerd pid $! on $sock (bridge $(bridge_of "$k") $(addr_of "$k"), log $logf)"
    STARTED_PIDS[$k]=$!
}

stop_one() {
    local k=$1 pid cpid xroot droot br
    xroot=$(exec_root_of "$k")
    droot=$(data_root_of "$k")
    br=$(bridge_of "$k")
    if pid=$(running_pid "$k"); then
        stop_pid "$pid" "dockerd $k" 30
    fi
    # dockerd normally takes its containerd down with it; after a SIGKILL it may not.
    if [[ -r $xroot/containerd/containerd.pid ]]; then
        cpid=$(cat "$xroot/containerd/containerd.pid")
        if [[ $cpid =~ ^[0-9]+$ && $(cat "/proc/$cpid/comm" 2>/dev/null) == containerd ]]; then
            stop_pid "$cpid" "containerd of daemon $k" 10
        fi
    fi
    umount_under "$xroot"
    umount_under "$droot"
    rm -rf "$xroot" "$droot" "$GANGER_STATE_DIR/d$k.json" "$(sock_of "$k")" "$(pidfile_of "$k")" "$(tcp_file_of "$k")"
    if ip link show "$br" >/dev/null 2>&1; then
        ip link del "$br" || log "could not delete bridge $br"
    fi
    # The (empty) --cgroup-parent directories stay behind after the daemon; rmdir keeps busy ones.
    local cg
    for cg in /sys/fs/cgroup/"$CGROUP_PREFIX"-d"$k" /sys/fs/cgroup/*/"$CGROUP_PREFIX"-d"$k"; do
        if [[ -d $cg ]]; then rmdir "$cg" 2>/dev/null || log "cgroup $cg still in use; left in place"; fi
    done
}

cmd_up() {
    local n=${1:-}
    if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > MAX)); then
        die "usage: $0 up N   (N = 1..$MAX, got '${n}')"
    fi
    need_root
    ensure_packages
    check_cgroups
    mkdir -p "$GANGER_RUN_DIR" "$GANGER_LOG_DIR" "$GANGER_STATE_DIR"
    local driver k pid failed=0
    driver=$(storage_driver_for "$GANGER_STATE_DIR")
    declare -gA STARTED_PIDS=()
    # Daemons found running rather than started here: one may be on its way out (a test that
    # SIGKILLed it calls `up` at once); if it exits before answering, it is started afresh.
    local -A adopted=()
    for ((k = 1; k <= n; k++)); do
        if ping_socket "$(sock_of "$k")"; then
            log "daemon $k already answers on $(sock_of "$k")"
        elif pid=$(running_pid "$k"); then
            log "daemon $k (pid $pid) is running; waiting for it to answer"
            STARTED_PIDS[$k]=$pid
            adopted[$k]=1
        else
            start_one "$k" "$driver"
        fi
    done
    local attempt
    for k in "${!STARTED_PIDS[@]}"; do
        for ((attempt = 1; ; attempt++)); do
            wait_ping "$(sock_of "$k")" "$TIMEOUT" "${STARTED_PIDS[$k]}" "$(log_of "$k")" && break
            if [[ -n ${adopted[$k]:-} ]] && ! kill -0 "${STARTED_PIDS[$k]}" 2>/dev/null; then
                unset "adopted[$k]"
                log "daemon $k: the running one (pid ${STARTED_PIDS[$k]}) exited before answering; starting it again"
                start_one "$k" "$driver"
                continue
            fi
            if [[ $TCP_BASE == auto ]] && ((attempt < 3)) && ! kill -0 "${STARTED_PIDS[$k]}" 2>/dev/null && port_was_taken "$k"; then
                log "daemon $k: another process took its tcp port first; starting it again on another port"
                start_one "$k" "$driver"
                continue
            fi
            failed=1
            break
        done
    done
    if ((failed)); then
        log "some daemons did not come up; stopping the extra daemons again"
        for k in "${!STARTED_PIDS[@]}"; do stop_one "$k"; done
        die "dockerd-multi up $n failed (storage driver $driver); logs in $GANGER_LOG_DIR"
    fi
    log "$n extra daemon(s) up (storage driver $driver)"
    for ((k = 1; k <= n; k++)); do printf 'unix://%s\n' "$(sock_of "$k")"; done
    if [[ -n $TCP_BASE ]]; then
        for ((k = 1; k <= n; k++)); do
            tcp_url_of "$k" || die "daemon $k listens on no tcp:// address (started without GANGER_MULTI_TCP: stop it with down first)"
        done
    fi
}

cmd_down() {
    need_root
    local k pid
    # Signal every daemon first, so that their shutdowns (about 3 s each here) overlap.
    for ((k = 1; k <= MAX; k++)); do
        if pid=$(running_pid "$k"); then
            log "signalling dockerd $k (pid $pid) to stop"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for ((k = 1; k <= MAX; k++)); do stop_one "$k"; done
    rmdir "$GANGER_STATE_DIR" 2>/dev/null || true
    log "extra daemons stopped, bridges and state removed"
}

cmd_status() {
    local k pid state addr tcp
    for ((k = 1; k <= MAX; k++)); do
        pid=$(running_pid "$k" || echo -)
        if ping_socket "$(sock_of "$k")"; then state=up; else state=down; fi
        addr=$(ip -4 -o addr show dev "$(bridge_of "$k")" 2>/dev/null | awk '{print $4}' || true)
        tcp=$(cat "$(tcp_file_of "$k")" 2>/dev/null || true)
        printf 'daemon %s\tunix://%s\t%s\tpid %s\t%s\t%s %s\n' "$k" "$(sock_of "$k")" "${tcp:--}" "$pid" "$state" \
            "$(bridge_of "$k")" "${addr:--}"
    done
}

cmd_check() {
    local k sock n=0 cid ip rc=0
    command -v python3 >/dev/null 2>&1 || die "check needs python3 (apt-get install python3-minimal)"
    for ((k = 1; k <= MAX; k++)); do
        sock=$(sock_of "$k")
        ping_socket "$sock" || continue
        n=$((n + 1))
        DOCKER_HOST="unix://$sock" "$here/../Examples/echo/build.sh"
        cid=$(DOCKER_HOST="unix://$sock" docker run -d --label ganger.test=dockerd-multi-check ganger-echo:latest) \
            || die "daemon $k: docker run ganger-echo failed"
        ip=$(DOCKER_HOST="unix://$sock" docker inspect -f '{{.NetworkSettings.IPAddress}}' "$cid")
        if python3 "$here/echo-check.py" "$ip" 12345 --rounds 2 >&2; then
            log "daemon $k: container ${cid:0:12} at $ip echoes from the host"
        else
            log "daemon $k: container ${cid:0:12} at $ip NOT reachable from the host"
            rc=1
        fi
        DOCKER_HOST="unix://$sock" docker rm -f "$cid" >/dev/null
    done
    ((n > 0)) || die "no extra daemon is running (dockerd-multi.sh up N first)"
    return "$rc"
}

case "${1:-}" in
    up | down) need_root && take_lock dockerd-multi ;;
esac
case "${1:-}" in
    up) cmd_up "${2:-}" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    check) cmd_check ;;
    *) die "usage: $0 up N | down | status | check" ;;
esac
