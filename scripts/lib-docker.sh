# shellcheck shell=bash
# Shared helpers for scripts/docker-up.sh, docker-down.sh and dockerd-multi.sh. Sourced, not run.
# Every function prints its messages on stderr; stdout is reserved for the scripts' results.

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

# State shared by the scripts. /run is cleared on reboot, like the daemons it describes.
GANGER_RUN_DIR="${GANGER_RUN_DIR:-/run/ganger-test}"
GANGER_LOG_DIR="${GANGER_LOG_DIR:-/var/log/ganger-test}"
GANGER_STATE_DIR="${GANGER_STATE_DIR:-/var/lib/ganger-test}"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (dockerd, apt-get, ip link need it)"
}

# ping_socket PATH -> 0 if a Docker daemon answers /_ping on that unix socket.
ping_socket() {
    [[ -S $1 ]] && curl -sf --max-time 2 --unix-socket "$1" http://d/_ping >/dev/null 2>&1
}

# pid_is_dockerd PID -> 0 if PID is alive and is a dockerd process.
pid_is_dockerd() {
    local pid=$1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]
}

# take_lock NAME: serialise concurrent runs (two `make docker-up` at once must not start two
# daemons on one socket). The lock is released when the script exits.
take_lock() {
    mkdir -p "$GANGER_RUN_DIR"
    exec 9>"$GANGER_RUN_DIR/$1.lock"
    flock -w 120 9 || die "another $1 run holds $GANGER_RUN_DIR/$1.lock for over 120 s"
}

# ensure_packages: install docker.io and busybox-static with apt-get if missing.
ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v ip >/dev/null 2>&1 || missing+=(iproute2)
    # busybox-static ships /bin/busybox statically linked; the plain busybox package does not.
    if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
        missing+=(busybox-static)
    fi
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
    command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
}

# storage_driver_for DIR -> prints overlay2 if an overlay mount works on DIR's filesystem, else vfs.
# dockerd itself falls back silently (or refuses to start, e.g. on overlayfs-on-overlayfs); probing
# with a real mount tells us up front. Override with DOCKER_STORAGE_DRIVER.
storage_driver_for() {
    local dir=$1 probe
    if [[ -n ${DOCKER_STORAGE_DRIVER:-} ]]; then
        printf '%s\n' "$DOCKER_STORAGE_DRIVER"
        return 0
    fi
    mkdir -p "$dir"
    probe=$(mktemp -d "$dir/.overlay-probe.XXXXXX")
    mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    echo ok >"$probe/lower/f"
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
        "$probe/merged" 2>/dev/null; then
        if [[ $(cat "$probe/merged/f" 2>/dev/null) == ok ]] && echo x >"$probe/merged/g" 2>/dev/null; then
            umount "$probe/merged"
            rm -rf "$probe"
            printf 'overlay2\n'
            return 0
        fi
        umount "$probe/merged" 2>/dev/null || true
    fi
    rm -rf "$probe"
    printf 'vfs\n'
}

# iptables_works -> 0 if iptables can read and create chains in the nat and filter tables.
iptables_works() {
    command -v iptables >/dev/null 2>&1 || return 1
    iptables -w 5 -t nat -L -n >/dev/null 2>&1 || return 1
    iptables -w 5 -t filter -L -n >/dev/null 2>&1 || return 1
}

# check_cgroups: dockerd cannot run containers without a cgroup hierarchy.
check_cgroups() {
    [[ -d /sys/fs/cgroup ]] || die "/sys/fs/cgroup does not exist: containers need cgroups (mount cgroup2 or cgroup v1)"
    if ! grep -qE '^[^ ]+ /sys/fs/cgroup(/[^ ]*)? (cgroup2?|tmpfs) ' /proc/mounts; then
        die "nothing is mounted on /sys/fs/cgroup: containers need cgroups"
    fi
}

# log_tail LOG: the last lines of this run's part of a dockerd log (after the last "=== " header the
# scripts write), without containerd's gRPC chatter, on stderr.
log_tail() {
    awk '/^=== /{n=0; delete l} {l[n++]=$0} END{for(i=0;i<n;i++) print l[i]}' "$1" 2>/dev/null \
        | grep -v -e '\[core\]' -e 'loading plugin' | tail -n 25 | sed 's/^/    /' >&2 || true
}

# wait_ping SOCK SECONDS PID LOG -> waits for /_ping; dies with the log tail if it never answers
# or the daemon exits first.
wait_ping() {
    local sock=$1 secs=$2 pid=$3 logf=$4 i
    for ((i = 0; i < secs * 4; i++)); do
        ping_socket "$sock" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            log "dockerd (pid $pid) exited before answering on $sock; last lines of $logf:"
            log_tail "$logf"
            return 1
        fi
        sleep 0.25
    done
    log "dockerd did not answer on $sock within ${secs}s; last lines of $logf:"
    log_tail "$logf"
    return 1
}

# stop_pid PID NAME SECONDS -> SIGTERM, bounded wait, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 secs=$3 i
    kill -0 "$pid" 2>/dev/null || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 4; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    log "$name (pid $pid) still alive after ${secs}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    die "$name (pid $pid) survived SIGKILL"
}

# umount_under DIR: lazily unmount everything mounted below DIR (overlay layers, netns, shm),
# deepest first, so that DIR can be removed after a daemon died without cleaning up.
umount_under() {
    local dir=$1 m
    [[ -d $dir ]] || return 0
    while read -r m; do
        if [[ -n $m ]]; then umount -l "$m" 2>/dev/null || true; fi
    done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
}
