#!/usr/bin/env bash
# Build ganger-echo:latest offline: static busybox, `nc -ll -p 12345 -e /bin/cat` as CMD.
# busybox nc -ll with -e forks one /bin/cat per connection and keeps listening (-k does not exist
# in busybox nc). cat echoes as it reads and exits on EOF, so a client's half-close (SHUT_WR)
# still gets every byte back, then EOF.
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-echo:latest).
set -euo pipefail
# shellcheck source=Examples/lib/busybox-image.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-echo:latest}"
check_daemon
skip_if_present "$IMAGE"
root=$(new_rootfs)
make_rootfs "$root"
import_rootfs "$root" "$IMAGE" \
    --change 'CMD ["/bin/nc","-ll","-p","12345","-e","/bin/cat"]' \
    --change 'EXPOSE 12345/tcp'
