# suriguard: the two commands that must work on a fresh Debian 12 machine, as root.
#   make demo   install what is missing, build, run the plugin in Suricata on bundled data
#   make test   install what is missing, build, run every test
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps build demo test bench bench-data lint clean

all: build

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --release --workspace --locked

demo: build
	scripts/demo.sh

test: build
	scripts/test.sh

# Records for the parse benchmark: real Suricata over the pcapgen capture.
bench-data: build
	scripts/bench-data.sh

bench: bench-data
	$(CARGO) bench -p suriguard-core --bench parse

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
