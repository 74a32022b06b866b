#!/usr/bin/env bash
# Build ganger-httpd:latest offline: static busybox; `httpd -f -p 12345 -h /www` as user nobody,
# a static page and a CGI script (/cgi-bin/whoami: the serving container's id).
# Env: DOCKER_HOST (daemon to build on), FORCE=1 (rebuild), IMAGE (default ganger-httpd:latest).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=Examples/lib/busybox-image.sh
source "$here/../lib/busybox-image.sh"

IMAGE="${IMAGE:-ganger-httpd:latest}"
check_daemon
skip_if_present "$IMAGE"
root=$(new_rootfs)
make_rootfs "$root"
cp -r "$here/www" "$root/www"
chmod -R a+rX "$root/www"
import_rootfs "$root" "$IMAGE" \
    --change 'USER 65534:65534' \
    --change 'CMD ["/bin/httpd","-f","-p","12345","-h","/www"]' \
    --change 'EXPOSE 12345/tcp'
