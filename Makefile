# Ganger — build, test, bench. `make help` lists the targets.
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
FUZZ_SECONDS ?= 60

SIM_SEEDS ?= 10000
SOAK_SECONDS ?= 600
SOAK_SESSIONS ?= 200

.PHONY: help build release test test-deps simulate fuzz soak bench bench-ganger bench-holders bench-burst bench-http bench-images bench-peers clean demo docker-up docker-down dockerd-multi-up dockerd-multi-down image images

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## debug build
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

# Through scripts/release-build.sh: after a source change this package's own modules are
# rebuilt whole (a stale incremental release build once corrupted the heap; docs/testing.md).
release: ## release build (.build/release/ganger); this package's modules rebuilt whole after a source change
	SWIFT='$(SWIFT)' scripts/release-build.sh $(SWIFT_BUILD_FLAGS)

# The tests need packages and Python modules first (test-deps: the build's libssl-dev and
# libyaml-dev among them, hence before the build), then the default daemon, the example images,
# and two extra daemons with ganger-echo (SchedulerTests); scripts/test.sh brings them up one
# after the other and stops the extra daemons afterwards, even when a test fails.
test: test-deps ## unit and integration tests (deps, dockerd, images, 2 extra dockerds up; extra ones down after)
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)
	SWIFT='$(SWIFT)' SWIFT_BUILD_FLAGS='$(SWIFT_BUILD_FLAGS)' scripts/test.sh

test-deps: ## install the packages and Python modules the tests use if missing (root; idempotent)
	scripts/test-deps.sh

# The deterministic simulation of the lifecycle (docs/testing.md): SIM_SEEDS scenarios from the
# base seed, or SIM_SEED=S to replay one (SIM_TRACE=1 prints its trace).
simulate: ## the lifecycle's deterministic simulation: SIM_SEEDS=N scenarios (default 10000), SIM_SEED=S replays one
	SWIFT='$(SWIFT)' scripts/release-build.sh $(SWIFT_BUILD_FLAGS) --product ganger-sim
	SIM_SEEDS=$(SIM_SEEDS) .build/release/ganger-sim

fuzz: ## libFuzzer + ASan over every parser, FUZZ_SECONDS (default 60) per target; Fuzz/, docs/testing.md
	SWIFT='$(SWIFT)' FUZZ_SECONDS='$(FUZZ_SECONDS)' scripts/fuzz.sh

# The soak (docs/testing.md, "Soak"): SOAK_SESSIONS live sessions churning on the default
# dockerd for SOAK_SECONDS, a tenth of them resetting at random phases; fails when RSS or
# descriptors are not flat or a container is left.
soak: release docker-up bench-images ## SOAK_SESSIONS (200) live sessions churning for SOAK_SECONDS (600), 10% resets: RSS, fds flat, no container left
	SOAK_SECONDS='$(SOAK_SECONDS)' SOAK_SESSIONS='$(SOAK_SESSIONS)' scripts/soak.py

bench: release bench-peers bench-images ## relay, ganger on dockerd and the scheduler vs peers: tables + bench/results/*.json (BENCH_ROUNDS, BENCH_QUICK=1)
	.build/release/ganger-bench
	.build/release/ganger-bench scheduler
	scripts/bench-http.sh

bench-http: release bench-peers docker-up ## Examples/httpd behind ganger under wrk: sessions/s, warm pool and cold (BENCH_HTTP_SECONDS)
	scripts/bench-http.sh

bench-ganger: release bench-peers bench-images ## only ganger's figures: cold TTFB vs raw Docker, throughput into a container, warm TTFB, sessions/s, holders, bursts
	.build/release/ganger-bench ganger

bench-holders: release bench-images ## only the network-holder figures: cold TTFB and sessions/s with holders vs without vs raw Docker
	.build/release/ganger-bench holders

bench-burst: release bench-images ## only the burst figure: 100 and 200 clients at once, launch window vs off vs the raw start rate (BENCH_QUICK=1: one burst of 50)
	.build/release/ganger-bench burst

bench-images: docker-up ## the images the ganger bench needs (ganger-echo, ganger-bench-source); idempotent
	Examples/echo/build.sh
	Examples/bench-source/build.sh

bench-peers: ## install haproxy, socat, iperf3, wrk from Debian if missing (root; idempotent; never fails)
	bench/install-peers.sh

demo: build docker-up images ## one echo session through ganger on a real dockerd; nothing left behind
	scripts/demo.sh

clean:
	rm -rf .build

# Docker environment for tests and demos (docs/docker-environment.md). Root only.
DAEMONS ?= 2

docker-up: ## install docker.io + busybox-static if missing; start dockerd unless one answers
	scripts/docker-up.sh

docker-down: ## stop the dockerd that docker-up started (never someone else's)
	scripts/docker-down.sh

dockerd-multi-up: ## start DAEMONS (default 2, max 3) extra dockerds; prints their sockets
	scripts/dockerd-multi.sh up $(DAEMONS)

dockerd-multi-down: ## stop the extra dockerds; remove their bridges and state
	scripts/dockerd-multi.sh down

# The release artifact: a static, stripped ganger with only the libraries it needs, imported
# offline as ganger:latest (docs/container.md). The static release build takes minutes.
image: docker-up ## ganger:latest: static release build, stripped, + ldd libraries, docker import (IMAGE, GANGER_BIN)
	SWIFT='$(SWIFT)' scripts/build-image.sh

# The Debian package (docs/operations.md, "Install"): the same static release build as the
# image, stripped, with man pages, completions, /etc/ganger/ganger.yml and the systemd units;
# lintian must find no error. The static build takes minutes; DebPackageTests builds the same
# package from the debug binary instead (GANGER_BIN). Its tools (dpkg-dev, pandoc, chrpath,
# fakeroot, lintian) come with `make test-deps`; the script names any that is missing.
.PHONY: deb
deb: ## dist/ganger_<version>_amd64.deb: static release build + man pages, completions, conffile, systemd units; lintian (GANGER_BIN, OUT)
	SWIFT='$(SWIFT)' scripts/build-deb.sh

images: ## build the Examples images offline (DOCKER_HOST honoured, FORCE=1 rebuilds)
	@set -e; for b in Examples/*/build.sh; do $$b; done
