#!/usr/bin/env bash
# Build ganger-sandbox:latest offline: static busybox; `nc -ll -p 12345 -e /bin/session`, where
# /bin/session is an interactive `sh -i` in /tmp with stderr on the socket too, as user nobody.
# Also creates the internal network NETWORK (default ganger-sandbox) the sessions run on, with
# inter-container communication off.
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-sandbox:latest),
#      NETWORK (default ganger-sandbox).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=Examples/lib/busybox-image.sh
source "$here/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-sandbox:latest}"
NETWORK="${NETWORK:-ganger-sandbox}"
check_daemon
# The sessions' network: internal (no gateway, no NAT, no route out), reachable from the host,
# and with inter-container communication off: `nc -ll` serves every connection, so on a network
# where containers reach each other one client could enter another's live session. A network
# left by an earlier build without that option is made again (only while nothing is on it).
ICC=com.docker.network.bridge.enable_icc
if docker network inspect "$NETWORK" >/dev/null 2>&1; then
    if [[ $(docker network inspect -f "{{index .Options \"$ICC\"}}" "$NETWORK") != false ]]; then
        docker network rm "$NETWORK" >/dev/null \
            || die "network $NETWORK lets its containers reach each other and cannot be removed (containers on it?): remove it, then run this again"
        log "removed network $NETWORK: its containers could reach each other"
    fi
fi
if ! docker network inspect "$NETWORK" >/dev/null 2>&1; then
    docker network create --internal -o "$ICC=false" "$NETWORK" >/dev/null \
        || die "docker network create --internal -o $ICC=false $NETWORK failed"
    log "created internal network $NETWORK (containers kept apart)"
fi
skip_if_present "$IMAGE"
root=$(new_rootfs)
make_rootfs "$root"
install -m 0755 "$here/session.sh" "$root/bin/session"
import_rootfs "$root" "$IMAGE" \
    --change 'USER 65534:65534' \
    --change 'CMD ["/bin/nc","-ll","-p","12345","-e","/bin/session"]' \
    --change 'EXPOSE 12345/tcp'
