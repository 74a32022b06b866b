#!/bin/sh
# Installs the bench's peers from Debian when any is missing: haproxy, socat, iperf3
# (ganger-bench) and wrk (scripts/bench-http.sh). Idempotent: does nothing when all are on
# PATH. Never fails `make bench`: without root, without apt-get, or when a package cannot be
# installed, it says which peers are missing and exits 0; the bench then prints a SKIP line for
# each figure that needs one and measures the rest.
set -u
PATH="$PATH:/usr/sbin:/sbin"
# tool=package; all four are named after their tool in Debian 12.
peers="haproxy socat iperf3 wrk"
missing() {
	m=""
	for tool in $peers; do
		command -v "$tool" >/dev/null 2>&1 || m="$m $tool"
	done
	echo "$m"
}
todo=$(missing)
[ -z "$todo" ] && exit 0
say() { echo "install-peers: $*" >&2; }
if [ "$(id -u)" != 0 ]; then
	say "missing:$todo (not root: not installing; the bench skips what needs them)"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	say "missing:$todo (no apt-get: not installing; the bench skips what needs them)"
	exit 0
fi
say "installing$todo"
# iperf3's package asks whether to start a daemon: answer with the default (no), unattended.
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a second make, unattended-upgrades) holds the lock: wait for it, bounded.
apt="apt-get -o DPkg::Lock::Timeout=120"
$apt update -qq || say "apt-get update failed; trying the install with the lists there are"
# One package the archive lacks must not cost the others: all at once, else one by one.
# shellcheck disable=SC2086 # one word per package
if ! $apt install -y -qq $todo >/dev/null; then
	for pkg in $todo; do
		$apt install -y -qq "$pkg" >/dev/null || say "apt-get install $pkg failed"
	done
fi
left=$(missing)
if [ -n "$left" ]; then
	say "still missing:$left (the bench skips what needs them)"
fi
exit 0
