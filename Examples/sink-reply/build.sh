#!/usr/bin/env bash
# Build ganger-sink-reply:latest offline: busybox `nc -ll -p 12345 -e /bin/sink-reply`, where
# sink-reply reads the whole request until EOF (client shutdown(SHUT_WR)) and only then writes it
# back. A half-close test against it fails deterministically when a proxy drops or mangles the
# half-close, whatever the payload size (the echo image answers while still reading).
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-sink-reply:latest).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=Examples/lib/busybox-image.sh
source "$here/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-sink-reply:latest}"
check_daemon
skip_if_present "$IMAGE"
root=$(new_rootfs)
make_rootfs "$root"
install -m 0755 "$here/sink-reply.sh" "$root/bin/sink-reply"
import_rootfs "$root" "$IMAGE" \
    --change 'CMD ["/bin/nc","-ll","-p","12345","-e","/bin/sink-reply"]' \
    --change 'EXPOSE 12345/tcp'
