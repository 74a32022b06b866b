#!/usr/bin/env bash
# A podman of the tests' own serving Docker's Engine API (podman's "compat" API) on a unix
# socket, so that Ganger can be run against podman as a `unix://` daemon.
#
#   podman-service.sh up      start it (if it does not answer yet) and build ganger-echo on it;
#                               prints unix:///run/ganger-podman-test/podman.sock on stdout
#   podman-service.sh down    remove its containers, stop it, remove its storage and state, and
#                               the iptables chains netavark leaves behind once no podman network is up
#   podman-service.sh status  the socket, pid, up/down
#
# Isolated from any other podman on the host: CONTAINERS_CONF names our own containers.conf (read
# exclusively), --root/--runroot our own storage, network_config_dir our own network files,
# events to a file of ours (no journald here), cgroupfs (no systemd). Its network is podman's
# default: the bridge podman0 with 10.88.0.0/16, set up by netavark; containers there are reached
# from the host at their address, as on docker0. netavark adds its own iptables chains
# (NETAVARK_FORWARD first in FORWARD, NETAVARK-HOSTPORT-* in nat) and touches none of Docker's.
#
# Environment: PODMAN_UP_TIMEOUT (seconds to wait for /_ping, default 30),
#   GANGER_PODMAN_DIR (run dir, default /run/ganger-podman-test),
#   GANGER_PODMAN_STATE (storage, default /var/lib/ganger-podman-test).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib-docker.sh
source "$here/lib-docker.sh"

TIMEOUT="${PODMAN_UP_TIMEOUT:-30}"
RUN="${GANGER_PODMAN_DIR:-/run/ganger-podman-test}"
STATE="${GANGER_PODMAN_STATE:-/var/lib/ganger-podman-test}"
SOCK="$RUN/podman.sock"
PIDFILE="$RUN/service.pid"
LOGF="$RUN/service.log"
export CONTAINERS_CONF="$RUN/containers.conf"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "PODMAN_UP_TIMEOUT must be a number of seconds, got '$TIMEOUT'"

pm() { podman --root "$STATE/storage" --runroot "$RUN/runroot" --storage-driver "$(cat "$STATE/driver")" "$@"; }

running_pid() {
    local pid
    [[ -r $PIDFILE ]] || return 1
    pid=$(cat "$PIDFILE")
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == podman ]] || return 1
    printf '%s\n' "$pid"
}

# write_conf [ULIMITS]: our containers.conf; ULIMITS is a TOML list for default_ulimits.
write_conf() {
    cat >"$CONTAINERS_CONF" <<EOF
[containers]
log_driver = "k8s-file"
${1:+default_ulimits = $1}
[engine]
cgroup_manager = "cgroupfs"
# runc, as dockerd uses here: podman prefers crun when it is installed, and crun 1.8 refuses
# every container on a host with cgroups in hybrid mode ("cgroups in hybrid mode not supported").
runtime = "runc"
events_logger = "file"
events_logfile_path = "$RUN/events.log"
tmp_dir = "$RUN/tmp"
[network]
network_backend = "netavark"
network_config_dir = "$RUN/networks"
EOF
}

start_service() {
    printf '\n=== %s podman-service: podman system service\n' "$(date -Is)" >>"$LOGF"
    setsid podman --root "$STATE/storage" --runroot "$RUN/runroot" --storage-driver "$(cat "$STATE/driver")" \
        system service --time=0 "unix://$SOCK" </dev/null >>"$LOGF" 2>&1 9>&- &
    echo $! >"$PIDFILE"
    wait_ping "$SOCK" "$TIMEOUT" "$!" "$LOGF" || die "podman did not answer on $SOCK (log $LOGF)"
}

# hard_limit PID NAME -> the hard limit NAME ("Max open files") of PID.
hard_limit() { awk -v n="$2" 'index($0, n) == 1 {print $(NF - 1)}' "/proc/$1/limits"; }

cmd_up() {
    need_root
    command -v podman >/dev/null 2>&1 || die "podman is not installed (apt-get install podman netavark aardvark-dns)"
    if ping_socket "$SOCK"; then
        log "podman already answers on $SOCK"
    else
        mkdir -p "$RUN/tmp" "$RUN/networks" "$STATE"
        [[ -s $STATE/driver ]] || storage_driver_for "$STATE" | sed 's/overlay2/overlay/' >"$STATE/driver"
        write_conf ""
        start_service
        # Podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 in every container; without
        # CAP_SYS_RESOURCE (as in this sandbox) runc cannot raise them ("error setting rlimit type
        # 7: operation not permitted") and no container starts. Give containers podman's own.
        local pid nofile nproc
        pid=$(running_pid) || die "podman service exited (log $LOGF)"
        nofile=$(hard_limit "$pid" "Max open files")
        nproc=$(hard_limit "$pid" "Max processes")
        if [[ $nofile != unlimited && $nproc != unlimited ]] && ((nofile < 1048576 || nproc < 1048576)); then
            log "limits below podman's defaults (nofile $nofile, nproc $nproc): containers get these"
            stop_pid "$pid" "podman service" 10
            write_conf "[\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
            start_service
        fi
        log "podman $(podman --version | awk '{print $3}') serving on $SOCK (pid $(cat "$PIDFILE"), storage $STATE, log $LOGF)"
    fi
    DOCKER_HOST="unix://$SOCK" "$here/../Examples/echo/build.sh" >&2
    printf 'unix://%s\n' "$SOCK"
}

# remove_netavark_rules: netavark removes its per-network rules with the network's last container
# but leaves its top-level chains and their jumps; drop them once no podman network is up (no
# podman* bridge, every NETAVARK chain without per-network rules), so the host is as before.
remove_netavark_rules() {
    command -v iptables >/dev/null 2>&1 || return 0
    if ip -o link show type bridge 2>/dev/null | grep -q ': podman[0-9]*[:@]'; then
        log "a podman bridge is still up; netavark's iptables chains left in place"
        return 0
    fi
    if iptables -w 5 -S NETAVARK_FORWARD >/dev/null 2>&1; then
        if iptables -w 5 -S NETAVARK_FORWARD | grep -q '^-A'; then
            log "NETAVARK_FORWARD still holds rules; left in place"
        else
            iptables -w 5 -D FORWARD -m comment --comment "netavark firewall plugin rules" -j NETAVARK_FORWARD 2>/dev/null || true
            iptables -w 5 -X NETAVARK_FORWARD 2>/dev/null || log "could not delete chain NETAVARK_FORWARD"
        fi
    fi
    local chains
    chains=$(iptables -w 5 -t nat -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}')
    [[ -n $chains ]] || return 0
    # Per-network chains (NETAVARK-<hash>) or port forwards mean a network is still in use.
    if iptables -w 5 -t nat -S 2>/dev/null | grep -E '^-A NETAVARK-(HOSTPORT-DNAT|[0-9A-F]{6,}) ' | grep -q .; then
        log "netavark's nat chains still hold rules; left in place"
        return 0
    fi
    local rule c
    while read -r rule; do
        [[ -n $rule ]] || continue
        # shellcheck disable=SC2086 # the rule's words, as iptables -S printed them
        iptables -w 5 -t nat ${rule/#-A/-D} 2>/dev/null || true
    done < <(iptables -w 5 -t nat -S 2>/dev/null | grep -E '^-A (PREROUTING|OUTPUT|POSTROUTING|INPUT) .*-j NETAVARK')
    for c in $chains; do iptables -w 5 -t nat -F "$c" 2>/dev/null || true; done
    for c in $chains; do iptables -w 5 -t nat -X "$c" 2>/dev/null || log "could not delete nat chain $c"; done
}

cmd_down() {
    need_root
    local pid
    if [[ -s $STATE/driver ]] && ping_socket "$SOCK"; then
        # Through podman, so that netavark tears each container's network down.
        pm rm -af -t 0 >/dev/null 2>&1 || log "podman rm -af failed; its storage is removed anyway"
    fi
    if pid=$(running_pid); then stop_pid "$pid" "podman service" 15; fi
    # conmon outlives podman by design; those of our containers go with them.
    for pid in $(pgrep -x conmon || true); do
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$RUN/"; then stop_pid "$pid" "conmon $pid" 5; fi
    done
    umount_under "$RUN"
    umount_under "$STATE"
    rm -rf "$RUN" "$STATE"
    # Podman 4.3 keeps netavark's IP allocations in /run/containers/networks/ipam.db whatever
    # --runroot says; with no podman or conmon left on the host nobody holds an address there.
    if ! pgrep -x podman >/dev/null && ! pgrep -x conmon >/dev/null; then
        rm -f /run/containers/networks/ipam.db
        rmdir /run/containers/networks /run/containers 2>/dev/null || true
    fi
    remove_netavark_rules
    ip link show docker0 >/dev/null 2>&1 || log "WARNING: docker0 is missing (scripts/docker-up.sh repairs it)"
    log "podman service stopped; storage, state and netavark's chains removed"
}

cmd_status() {
    local pid state
    pid=$(running_pid || echo -)
    if ping_socket "$SOCK"; then state=up; else state=down; fi
    printf 'podman\tunix://%s\tpid %s\t%s\n' "$SOCK" "$pid" "$state"
}

case "${1:-}" in
    up | down) need_root && GANGER_RUN_DIR=/run take_lock ganger-podman-test ;;
esac
case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) die "usage: $0 up | down | status" ;;
esac
