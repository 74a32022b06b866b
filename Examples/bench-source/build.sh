#!/usr/bin/env bash
# Build ganger-bench-source:latest offline: busybox `nc -ll -p 12345 -e /bin/source`, where
# source (source.sh here) waits for one byte from the client, then sends $SOURCE_MIB MiB of zeros
# (default 1024) and closes. For `ganger-bench ganger` (single-connection throughput).
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-bench-source:latest).
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=Examples/lib/busybox-image.sh
source "$here/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-bench-source:latest}"
check_daemon
skip_if_present "$IMAGE"
root=$(new_rootfs)
make_rootfs "$root"
install -m 0755 "$here/source.sh" "$root/bin/source"
import_rootfs "$root" "$IMAGE" \
    --change 'CMD ["/bin/nc","-ll","-p","12345","-e","/bin/source"]' \
    --change 'EXPOSE 12345/tcp'
