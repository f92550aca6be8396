# pixelrnnd — build, run and test. `make run` and `make test` work on a fresh
# Debian 12 machine with Swift: they install the Debian packages they need first.

SWIFT       ?= swift
SPOOL       ?= ./spool
DEB_PACKAGES = libpng-dev libjpeg-dev zlib1g-dev libopenblas-dev libinotifytools0-dev \
               libcairo2-dev fonts-dejavu-core dataset-fashion-mnist pkg-config
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE     := -c release
TESTFLAGS   := -c release -Xswiftc -enable-testing

DATA_PACKAGES = mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers lomiri-wallpapers-20.04 \
               tuxpaint-stamps-default stellarium-data endless-sky-data \
               python3-pil python3-numpy

.PHONY: deps data build run test bench bench-compare install clean

PREFIX      ?= /usr
DESTDIR     ?=

## deps: install the Debian packages the build and the tests need (only those missing).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## data: the Debian packages of the `wallpapers` colour data set (docs/data-wallpapers.md)
## and Pillow for scripts/wallpapers.py; `make test` does not need them.
data:
	@missing=""; for p in $(DATA_PACKAGES); do \
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

## bench-compare: pixelrnn bench and the same model in PyTorch, one run, with ratios
## (installs torch into .venv-torch/ on first use; opt-in, `make test` never needs it).
bench-compare: build
	scripts/bench-compare.sh

## install: binaries, default models (gray and colour), configuration and systemd unit in their places
## (PREFIX=/usr by default, as the unit expects); creates the pixelrnnd user and spool
## when run as root on the target system (DESTDIR empty).
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/pixelrnnd \
	  $(DESTDIR)$(PREFIX)/share/doc/pixelrnnd $(DESTDIR)/etc $(DESTDIR)/lib/systemd/system
	install -m 755 .build/release/pixelrnnd .build/release/pixelrnn $(DESTDIR)$(PREFIX)/bin/
	install -m 644 models/default.safetensors $(DESTDIR)$(PREFIX)/share/pixelrnnd/default.safetensors
	[ ! -e models/colour.safetensors ] || install -m 644 models/colour.safetensors $(DESTDIR)$(PREFIX)/share/pixelrnnd/colour.safetensors
	install -m 644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/pixelrnnd/
	[ -e $(DESTDIR)/etc/pixelrnnd.conf ] || install -m 644 etc/pixelrnnd.conf $(DESTDIR)/etc/pixelrnnd.conf
	install -m 644 systemd/pixelrnnd.service $(DESTDIR)/lib/systemd/system/pixelrnnd.service
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	  getent passwd pixelrnnd >/dev/null || adduser --system --group --home /var/lib/pixelrnnd pixelrnnd; \
	  install -d -o pixelrnnd -g pixelrnnd -m 2775 /var/spool/pixelrnnd /var/spool/pixelrnnd/inbox /var/spool/pixelrnnd/masks; \
	  echo "installed; start with: systemctl daemon-reload && systemctl enable --now pixelrnnd"; \
	fi

clean:
	rm -rf .build
