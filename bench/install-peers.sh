#!/bin/sh
# Installs the bench's peers from Debian (haproxy, socat, iperf3) when any is missing.
# Idempotent: does nothing when all three are on PATH. Without root it only says what is
# missing; ganger-bench then prints a SKIP line for each missing peer.
set -eu
PATH="$PATH:/usr/sbin:/sbin"
missing=""
for tool in haproxy socat iperf3; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-peers: missing:$missing (not root: not installing; the bench skips them)" >&2
	exit 0
fi
echo "install-peers: installing$missing" >&2
# iperf3's package asks whether to start a daemon: answer with the default (no), unattended.
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq $missing >/dev/null
