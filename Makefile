# Ganger — build, test, bench. `make help` lists the targets.
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=
RELEASE_FLAGS ?= -c release

.PHONY: help build release test bench clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## debug build
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

release: ## release build (.build/release/ganger)
	$(SWIFT) build $(RELEASE_FLAGS) $(SWIFT_BUILD_FLAGS)

test: build ## unit and integration tests (brings up dockerd when needed)
	$(SWIFT) test $(SWIFT_BUILD_FLAGS)

bench: release ## relay and peers on loopback: table + bench/results/*.json
	.build/release/ganger-bench

clean:
	rm -rf .build
