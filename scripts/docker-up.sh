#!/usr/bin/env bash
# Make sure a Docker daemon answers on /var/run/docker.sock. Idempotent.
#
#  - installs docker.io and busybox-static with apt-get when missing;
#  - does nothing more when a daemon already answers /_ping (whoever started it);
#  - otherwise starts dockerd in the background with flags fitted to this machine (storage driver
#    probed, iptables probed), records that we started it (marker, read by docker-down.sh) and
#    waits, bounded, for /_ping; on failure prints the tail of the daemon's log and exits 1.
#
# Environment:
#   DOCKER_UP_TIMEOUT      seconds to wait for /_ping (default 60)
#   DOCKER_STORAGE_DRIVER  force a storage driver (default: overlay2 if an overlay mount works, else vfs)
#   DOCKER_IPTABLES        true|false (default: true if iptables works here, else false)
#   DOCKERD_EXTRA_FLAGS    extra dockerd flags, word-split
# Files: log /var/log/ganger-test/dockerd.log, pidfile /var/run/docker.pid,
#        marker /run/ganger-test/dockerd-default.started (holds the pid).
set -euo pipefail
# shellcheck source=scripts/lib-docker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-docker.sh"

SOCK=/var/run/docker.sock
PIDFILE=/var/run/docker.pid
DATA_ROOT=/var/lib/docker
LOGF="$GANGER_LOG_DIR/dockerd.log"
MARKER="$GANGER_RUN_DIR/dockerd-default.started"
TIMEOUT="${DOCKER_UP_TIMEOUT:-60}"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "DOCKER_UP_TIMEOUT must be a number of seconds, got '$TIMEOUT'"

need_root
take_lock docker-default
ensure_packages

if ping_socket "$SOCK"; then
    # Seen once here: docker0 vanished under a running daemon, and every container start failed
    # ("could not find bridge docker0"). A daemon of ours in that state is restarted (it
    # recreates docker0); someone else's is only reported.
    if ! ip link show docker0 >/dev/null 2>&1; then
        if [[ -r $MARKER ]] && pid_is_dockerd "$(cat "$MARKER")"; then
            log "docker0 is missing under the dockerd we started: restarting it"
            stop_pid "$(cat "$MARKER")" dockerd 30
            rm -f "$MARKER"
        else
            die "a Docker daemon answers on $SOCK but its bridge docker0 is missing: containers cannot start (restart that dockerd)"
        fi
    else
        log "a Docker daemon already answers on $SOCK; nothing to do"
        exit 0
    fi
fi

# A dockerd that is still starting (e.g. the docker.service apt just enabled, or a previous run of
# this script): wait for it rather than start a second one on the same socket and data root.
if [[ -r $PIDFILE ]] && pid_is_dockerd "$(cat "$PIDFILE")"; then
    pid=$(cat "$PIDFILE")
    log "dockerd (pid $pid) is running but not answering yet; waiting up to ${TIMEOUT}s"
    wait_ping "$SOCK" "$TIMEOUT" "$pid" "$LOGF" || die "dockerd pid $pid never answered on $SOCK"
    log "dockerd answers on $SOCK"
    exit 0
fi

# systemd's docker.service/docker.socket (enabled by `apt-get install docker.io` on a systemd machine)
# may still be starting: leave the socket to it.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    for unit in docker.service docker.socket; do
        state=$(systemctl is-active "$unit" 2>/dev/null || true)
        if [[ $state == active || $state == activating ]]; then
            log "$unit is $state under systemd; waiting up to ${TIMEOUT}s for it to answer"
            wait_ping "$SOCK" "$TIMEOUT" "" /dev/null || die "systemd's $unit never answered on $SOCK (journalctl -u docker.service)"
            log "dockerd (systemd) answers on $SOCK"
            exit 0
        fi
    done
fi

check_cgroups
mkdir -p "$GANGER_RUN_DIR" "$GANGER_LOG_DIR" "$DATA_ROOT"

driver=$(storage_driver_for "$DATA_ROOT")
if [[ -n ${DOCKER_IPTABLES:-} ]]; then
    iptables=$DOCKER_IPTABLES
elif iptables_works; then
    iptables=true
else
    iptables=false
    log "iptables does not work here: starting dockerd with --iptables=false" \
        "(containers stay reachable from the host at their bridge IP; no outbound NAT, no -p publishing via iptables)"
fi

flags=(
    -H "unix://$SOCK"
    --pidfile "$PIDFILE"
    --data-root "$DATA_ROOT"
    --storage-driver "$driver"
    --iptables="$iptables"
)
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
if [[ -n ${DOCKERD_EXTRA_FLAGS:-} ]]; then flags+=($DOCKERD_EXTRA_FLAGS); fi

log "starting dockerd ${flags[*]} (log: $LOGF)"
printf '\n=== %s docker-up: dockerd %s\n' "$(date -Is)" "${flags[*]}" >>"$LOGF"
# setsid: its own session, so that the caller's process group (make, CI step) ending does not take
# the daemon with it; stdin from /dev/null so it never holds a terminal; fd 9 (our lock) closed.
setsid dockerd "${flags[@]}" </dev/null >>"$LOGF" 2>&1 9>&- &
pid=$!
printf '%s\n' "$pid" >"$MARKER"

if ! wait_ping "$SOCK" "$TIMEOUT" "$pid" "$LOGF"; then
    if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid" dockerd 20; fi
    rm -f "$MARKER"
    die "dockerd did not come up (flags: ${flags[*]}); see $LOGF"
fi
log "dockerd (pid $pid, storage driver $driver, iptables $iptables) answers on $SOCK"
