# pixelrnnd — build, run and test. `make run` and `make test` work on a fresh
# Debian 12 machine with Swift: they install the Debian packages they need first.

SWIFT       ?= swift
SPOOL       ?= ./spool
DEB_PACKAGES = libpng-dev libjpeg-dev zlib1g-dev libopenblas-dev libinotifytools0-dev \
               dataset-fashion-mnist pkg-config
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE     := -c release
TESTFLAGS   := -c release -Xswiftc -enable-testing

.PHONY: deps build run test bench clean

## deps: install the Debian packages the build and the tests need (only those missing).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## build: release build of both executables.
build: deps
	$(SWIFT) build $(RELEASE)

## run: start pixelrnnd in the foreground on ./spool with the embedded default model.
run: build
	mkdir -p $(SPOOL)
	.build/release/pixelrnnd --spool $(SPOOL) --state $(SPOOL)/state

## test: every test, in a release build (the numeric tests are too slow in debug).
test: deps
	$(SWIFT) test $(TESTFLAGS)

## bench: the benchmark table of docs/benchmarks.md.
bench: build
	.build/release/pixelrnn bench

clean:
	rm -rf .build
