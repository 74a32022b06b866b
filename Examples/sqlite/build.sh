#!/usr/bin/env bash
# Build ganger-sqlite:latest offline: static busybox (for nc and sh), Debian's sqlite3 with the
# shared libraries ldd names and the dynamic loader, and a seed database. Each connection runs
# /bin/query: a private copy of the seed database, and sqlite3 on the socket.
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-sqlite:latest),
#      SQLITE3 (default /usr/bin/sqlite3; `apt-get install sqlite3`).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=Examples/lib/busybox-image.sh
source "$here/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-sqlite:latest}"
SQLITE3="${SQLITE3:-/usr/bin/sqlite3}"
check_daemon
skip_if_present "$IMAGE"
[[ -x $SQLITE3 ]] || die "$SQLITE3 not found: apt-get install sqlite3"
root=$(new_rootfs)
make_rootfs "$root"
copy_with_libraries "$root" "$SQLITE3" /usr/bin/sqlite3
install -m 0755 "$here/query.sh" "$root/bin/query"
mkdir -p "$root/data"
"$SQLITE3" "$root/data/seed.db" <"$here/seed.sql"
chmod 0444 "$root/data/seed.db"
import_rootfs "$root" "$IMAGE" \
    --change 'USER 65534:65534' \
    --change 'CMD ["/bin/nc","-ll","-p","12345","-e","/bin/query"]' \
    --change 'EXPOSE 12345/tcp'
