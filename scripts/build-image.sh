#!/usr/bin/env bash
# Build the Ganger image offline: the ganger binary, the shared libraries it needs (ldd) and the
# dynamic loader, a default /etc/ganger/ganger.yml, piped into `docker import`. No registry, no
# Dockerfile, no base image. See docs/container.md.
#
#   scripts/build-image.sh                  # `make image`: static release build, stripped -> ganger:latest
#   GANGER_BIN=.build/debug/ganger IMAGE=ganger:itest scripts/build-image.sh
#                                           # from an already-built binary (the integration tests)
#
# Env:
#   IMAGE        tag to build (default ganger:latest)
#   GANGER_BIN   use this binary instead of building; its libraries are found by ldd whatever they
#                are (a debug build links the Swift runtime dynamically: a bigger image, same behaviour)
#   SWIFT        swift driver (default swift); the release build goes to .build/static
#   CONFIG       default configuration baked in (default Examples/container/ganger.yml)
#   IF_STALE=1   skip the import when IMAGE exists and was built from a binary with the same
#                SHA-256 (label ganger.binary.sha256)
#   DOCKER_HOST  daemon to import into (the docker CLI's default otherwise)
# Prints the image's size and its largest files on stderr; the image id on stdout.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
log() { printf 'build-image.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

IMAGE="${IMAGE:-ganger:latest}"
SWIFT="${SWIFT:-swift}"
CONFIG="${CONFIG:-Examples/container/ganger.yml}"
[[ -f $CONFIG ]] || die "default config $CONFIG missing"
command -v docker >/dev/null || die "no docker CLI (run scripts/docker-up.sh)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "no Docker daemon at ${DOCKER_HOST:-the default socket} (run scripts/docker-up.sh)"

if [[ -n ${GANGER_BIN:-} ]]; then
    bin=$GANGER_BIN
    [[ -x $bin ]] || die "GANGER_BIN=$bin is not an executable (swift build first)"
    kind="prebuilt $bin"
else
    log "swift build -c release --static-swift-stdlib --product ganger (several minutes on 2 cores)"
    "$SWIFT" build -c release --static-swift-stdlib --product ganger --scratch-path .build/static >&2
    bin=.build/static/release/ganger
    kind="release, --static-swift-stdlib"
fi
sha=$(sha256sum "$bin" | cut -d' ' -f1)

if [[ ${IF_STALE:-0} == 1 ]] && \
   [[ $(docker image inspect -f '{{index .Config.Labels "ganger.binary.sha256"}}' "$IMAGE" 2>/dev/null || true) == "$sha" ]]; then
    log "$IMAGE is current (binary $sha); skipping"
    docker image inspect -f '{{.Id}}' "$IMAGE"
    exit 0
fi

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/ganger-image.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/etc/ganger" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
chmod 1777 "$rootfs/tmp"
cp "$bin" "$rootfs/ganger"
strip --strip-all "$rootfs/ganger"
cp "$CONFIG" "$rootfs/etc/ganger/ganger.yml"
# Host names (tcp://NAME:PORT daemons, Consul hosts) go through glibc's resolver: files, then DNS
# (Docker bind-mounts /etc/hosts and /etc/resolv.conf into every container).
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/ganger\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"

# Each library at the path the loader will look for it (ldd resolved it through RUNPATH, the
# cache or the default directories; the same absolute path works inside the image), symlinks
# followed. The loader line has no "=>": its absolute path is the PT_INTERP the kernel opens.
ldd_out=$(ldd "$bin" 2>&1) || die "ldd $bin: $ldd_out"
libs=$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out" | sort -u)
missing=$(grep 'not found' <<<"$ldd_out" || true)
[[ -z $missing ]] || die "ldd $bin: missing libraries: $missing"
for lib in $libs; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
done
# The shipped libraries need no symbols either (a debug build's Swift runtime is most of it).
find "$rootfs" -name '*.so*' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true

old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
id=$(tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/ganger","run"]' \
    --change 'ENV GANGER_CONFIG=/etc/ganger/ganger.yml' \
    --change 'EXPOSE 5454/tcp' \
    --change 'EXPOSE 5480/tcp' \
    --change 'HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/ganger","status","--health","--url","http://127.0.0.1:5480","--timeout","2"]' \
    --change "LABEL ganger.binary.sha256=$sha" \
    --change "LABEL ganger.binary.kind=\"$kind\"" \
    - "$IMAGE") || die "docker import of $IMAGE failed"
if [[ -n $old && $old != "$id" ]]; then docker image rm "$old" >/dev/null 2>&1 || true; fi

size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE ($id) from $kind"
log "image size: $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.1f MB", s / 1e6}'))"
log "largest files:"
(cd "$rootfs" && find . -type f -printf '%s\t%p\n' | sort -rn | head -8 |
    awk -F'\t' '{printf "  %8.1f MB  %s\n", $1 / 1e6, $2}') >&2
printf '%s\n' "$id"
