# shellcheck shell=bash
# Build tiny images offline from the static busybox of Debian's busybox-static package.
# Sourced by Examples/*/build.sh. No registry, no Dockerfile: a rootfs tarball through `docker import`.
#
# Environment honoured by every build.sh:
#   DOCKER_HOST  daemon to build on (unix:///path or tcp://host:port); default: the docker CLI's default
#   FORCE=1      rebuild even if the image already exists
#   BUSYBOX      path of a statically linked busybox (default /bin/busybox)

log() { printf '%s: %s\n' "${0#./}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

BUSYBOX="${BUSYBOX:-/bin/busybox}"

# check_daemon: fail clearly when the docker CLI or the daemon named by DOCKER_HOST is missing.
check_daemon() {
    command -v docker >/dev/null 2>&1 || die "no docker CLI in PATH (install docker.io, or run scripts/docker-up.sh)"
    case "${DOCKER_HOST:-}" in
        "" | unix://* | tcp://* | ssh://*) ;;
        *) die "DOCKER_HOST='$DOCKER_HOST' is not unix:///path, tcp://host:port or ssh://host" ;;
    esac
    local err
    if ! err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null); then
        die "no Docker daemon at ${DOCKER_HOST:-the default socket}: $err (run scripts/docker-up.sh or scripts/dockerd-multi.sh up N)"
    fi
}

# image_exists IMAGE
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# skip_if_present IMAGE -> exits 0 when the image exists and FORCE is not 1.
skip_if_present() {
    if [[ ${FORCE:-0} != 1 ]] && image_exists "$1"; then
        log "$1 already on ${DOCKER_HOST:-the default daemon}; skipping (FORCE=1 rebuilds)"
        exit 0
    fi
}

# make_rootfs DIR: /bin/busybox plus a symlink per applet (sh, nc, cat, true, ...), /tmp, /etc.
make_rootfs() {
    local root=$1 applet
    [[ -x $BUSYBOX ]] || die "$BUSYBOX not found: apt-get install busybox-static"
    # The image has no libc: the binary must be static. ldd says so on stderr and exits 1.
    if ldd "$BUSYBOX" >/dev/null 2>&1; then
        die "$BUSYBOX is dynamically linked; install busybox-static (the busybox package is dynamic)"
    fi
    mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev"
    chmod 1777 "$root/tmp"
    cp "$BUSYBOX" "$root/bin/busybox"
    for applet in $("$BUSYBOX" --list); do
        [[ $applet == busybox ]] && continue
        ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# import_rootfs DIR IMAGE [--change INSTR]...: tar the rootfs into `docker import`.
import_rootfs() {
    local root=$1 image=$2
    shift 2
    local id old
    old=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    id=$(tar --numeric-owner --owner=0 --group=0 -C "$root" -c . | docker import "$@" - "$image") \
        || die "docker import of $image failed on ${DOCKER_HOST:-the default daemon}"
    log "built $image ($id) on ${DOCKER_HOST:-the default daemon}"
    # A rebuild (FORCE=1) leaves the previous image untagged; drop it unless a container uses it.
    if [[ -n $old && $old != "$id" ]]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
}

# new_rootfs -> prints a fresh temp dir, removed when the script exits.
new_rootfs() {
    local d
    d=$(mktemp -d "${TMPDIR:-/tmp}/ganger-rootfs.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the path is fixed
    trap "rm -rf '$d'" EXIT
    printf '%s\n' "$d"
}

# copy_with_libraries ROOT BINARY DEST: a dynamically linked BINARY at ROOT/DEST, and every shared
# library ldd names plus the dynamic loader, each at the absolute path the loader looks for it.
copy_with_libraries() {
    local root=$1 bin=$2 dest=$3 out lib
    out=$(ldd "$bin" 2>&1) || die "ldd $bin: $out"
    ! grep -q 'not found' <<<"$out" || die "ldd $bin: missing libraries: $(grep 'not found' <<<"$out")"
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$bin" "$root$dest"
    for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out" | sort -u); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
