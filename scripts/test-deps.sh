#!/usr/bin/env bash
# `make test`, first step: installs what the tests use when it is missing. Idempotent: with
# everything present it only looks (dpkg-query, one python3 import) and runs no apt-get at all;
# `apt-get update` runs only when a package is missing (a fresh machine has no package lists).
# The Docker daemon and its packages are scripts/docker-up.sh's business (test.sh runs it).
#
#   scripts/test-deps.sh           install what is missing (root, Debian's apt-get)
#   scripts/test-deps.sh --check   only say what is missing; exit 1 if anything is
#
# Debian packages (--no-install-recommends):
#   make                              the entry (`make test`)
#   libssl-dev                        TLS to tcp:// daemons; SHA-256 in the relay tests (CTestCrypto)
#   libyaml-dev                       the config's YAML parser (Package.swift's CYAML)
#   curl, python3, ca-certificates    the docker scripts; ca-certificates brings the openssl
#                                     command, which makes the TLS daemon's certificates
#   openssh-server, openssh-client    the ssh:// daemon tests run an sshd of their own on a
#                                     loopback port (TestSSHD)
#   podman, netavark, aardvark-dns,   PodmanTests: podman's Docker-compatible API with its bridge
#   iptables                          network; as root no uidmap (podman pulls conmon, crun, ...)
#   haproxy                           the PROXY header test: HAProxy's accept-proxy reads
#                                     Ganger's v1 and v2 headers (ProxyHeaderHAProxyTests)
#   python3-pip, chromium,            the status tests: /metrics through prometheus_client's own
#   fonts-dejavu-core                 parser, /status.json through jsonschema, the page in headless
#                                     Chromium (fonts for its screenshot)
#   dpkg-dev, fakeroot, binutils,     `make deb` / DebPackageTests: dpkg-shlibdeps, strip and
#   chrpath, pandoc, lintian, man-db  readelf, the RUNPATH drop, ganger.yml(5) from
#                                     docs/configuration.md, lintian on the package, `man -w`
#   systemd                           systemd-socket-activate (SystemdIntegrationTests) and
#                                     systemd-analyze verify on the units (not run as init)
#   prometheus                        promtool check rules, and a Prometheus server scraping a
#                                     live ganger (PrometheusTests; its service is not started)
#   docker-compose                    Examples/container/compose.yaml (ComposeTests)
#   iproute2, socat                   NetemTests: a namespace, a veth pair and a qdisc between Ganger and
#                                     a tcp:// forwarder to dockerd
#   docker-registry                   a registry of the test's own on a loopback port (TestRegistry):
#                                     what `pull` fetches from, with no network (its own service is
#                                     not started: the tests run it with their own configuration)
# Python modules, for the python3 on PATH (the one the tests run): prometheus-client, jsonschema.
#
# Exit status: 0 when everything is there afterwards; 1 with what is missing otherwise.
set -euo pipefail
# Appended, not prepended: the python3 found first on the caller's PATH is the one the tests run.
export PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
log() { printf 'test-deps.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    *) die "usage: $0 [--check]" ;;
esac

packages=(make libssl-dev libyaml-dev curl python3 ca-certificates openssh-server openssh-client
    podman netavark aardvark-dns iptables haproxy python3-pip chromium fonts-dejavu-core
    dpkg-dev fakeroot binutils chrpath pandoc lintian man-db systemd prometheus docker-compose iproute2 socat docker-registry)
modules=(prometheus-client jsonschema)

# missing_packages -> prints the packages dpkg does not have installed, one per line.
missing_packages() {
    local p
    for p in "${packages[@]}"; do
        [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || printf '%s\n' "$p"
    done
}

modules_present() {
    command -v python3 >/dev/null 2>&1 && python3 -c 'import prometheus_client, jsonschema' 2>/dev/null
}

command -v dpkg-query >/dev/null 2>&1 || die "no dpkg-query: this script installs Debian packages (${packages[*]})"
mapfile -t missing < <(missing_packages)
modules_ok=1
modules_present || modules_ok=0
if ((${#missing[@]} == 0 && modules_ok)); then
    exit 0
fi

wanted="${missing[*]}"
((modules_ok)) || wanted+="${wanted:+ }python modules: ${modules[*]}"
if ((check_only)); then
    log "missing: $wanted"
    exit 1
fi
[[ $(id -u) -eq 0 ]] || die "missing: $wanted; run as root (make test needs root for dockerd anyway) or install them"

if ((${#missing[@]} > 0)); then
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    # Another apt run holding the lock (a second make, unattended-upgrades): wait for it, bounded.
    apt=(apt-get -o DPkg::Lock::Timeout=120)
    log "installing ${missing[*]} with apt-get"
    "${apt[@]}" update -qq || die "apt-get update failed"
    "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

if ! modules_present; then
    log "installing ${modules[*]} with pip for $(command -v python3)"
    # Debian's python3 is "externally managed" (PEP 668): plain pip refuses, so fall back to
    # --break-system-packages there; a python3 of its own (pyenv, venv) takes the plain install.
    python3 -m pip install -q --disable-pip-version-check "${modules[@]}" 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${modules[@]}" \
        || die "pip install ${modules[*]} failed"
fi

mapfile -t still < <(missing_packages)
((${#still[@]} == 0)) || die "still missing after apt-get: ${still[*]}"
modules_present || die "python3 still cannot import prometheus_client and jsonschema after pip"
log "test dependencies installed"
