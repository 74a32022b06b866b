#!/usr/bin/env bash
# Stop the dockerd that scripts/docker-up.sh started, and only that one: a daemon someone else
# started (systemd, an operator) is left alone. Idempotent.
#
# Environment: DOCKER_DOWN_TIMEOUT seconds to wait for a clean exit before SIGKILL (default 30).
set -euo pipefail
# shellcheck source=scripts/lib-docker.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-docker.sh"

MARKER="$GANGER_RUN_DIR/dockerd-default.started"
TIMEOUT="${DOCKER_DOWN_TIMEOUT:-30}"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "DOCKER_DOWN_TIMEOUT must be a number of seconds, got '$TIMEOUT'"

need_root
take_lock docker-default
if [[ ! -e $MARKER ]]; then
    log "no marker $MARKER: docker-up.sh did not start the running dockerd (if any); leaving it alone"
    exit 0
fi
pid=$(cat "$MARKER")
if ! pid_is_dockerd "$pid"; then
    log "dockerd pid '$pid' from $MARKER is gone; removing the stale marker"
    rm -f "$MARKER"
    exit 0
fi
# dockerd stops its containers (no live-restore) and its containerd on SIGTERM.
stop_pid "$pid" dockerd "$TIMEOUT"
rm -f "$MARKER"
log "dockerd (pid $pid) stopped"
