#!/usr/bin/env bash
# Build ganger-exit:latest offline: CMD /bin/true, so the container exits at once without ever
# listening. For fault tests: "a container that exits before it serves".
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-exit:latest).
set -euo pipefail
# shellcheck source=Examples/lib/busybox-image.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-exit:latest}"
check_daemon
skip_if_present "$IMAGE"
root=$(new_rootfs)
make_rootfs "$root"
import_rootfs "$root" "$IMAGE" \
    --change 'CMD ["/bin/true"]' \
    --change 'EXPOSE 12345/tcp'
