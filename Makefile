# suriguard: the two commands that must work on a fresh Debian 12 machine, as root.
#   make demo   install what is missing, build, run the plugin in Suricata on bundled data
#   make test   install what is missing, build, run every test
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all deps build demo test bench bench-data bench-enforce bench-intel bench-report bench-model bench-evefile bench-memory soak lint clean fuzz fuzz-smoke deb honeypot

all: build

deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --release --workspace --locked

demo: build
	scripts/demo.sh

# The Cowrie honeypot as an IoT device persona (docs/HONEYPOT.md).
honeypot:
	honeypot/install.sh $(HONEYPOT_ARGS)

# The Debian package: target/debian/suriguard_<version>_<arch>.deb (ARCH=arm64 cross-builds).
deb: deps
	scripts/deb.sh $(ARCH)

# scripts/test.sh builds (the Debian roots download meanwhile), then tests.
test: deps
	scripts/test.sh

# Records for the parse benchmark: real Suricata over the pcapgen capture.
bench-data: build
	scripts/bench-data.sh

bench: bench-data bench-enforce
	$(CARGO) bench -p suriguard-detect --bench parse

# Enforcement figures (docs/PERFORMANCE.md): runs inside a namespace of its own.
# rulesync: a million indicators, and Suricata start-up with datasets against one rule
# per indicator (prints Markdown for docs/PERFORMANCE.md).
bench-model: bench-data
	$(CARGO) bench -p suriguard-detect --features ml --bench model

bench-intel: build
	python3 scripts/bench-intel.py

# eve.json by Suricata against eve.json by suriguard (model off, on), Suricata 7.0 and 8.0.
bench-evefile: build
	scripts/debian13-root.sh >/dev/null
	python3 scripts/bench-evefile.py

# A 30-minute soak through real Suricata in namespaces (make test runs it for 90 s).
SOAK_SECONDS ?= 1800
soak: build
	SURIGUARD_SOAK_SECS=$(SOAK_SECONDS) $(CARGO) test --release -p suriguard-e2e --test soak -- --nocapture

# Peak RSS suriguard adds to Suricata at 1,000 / 10,000 / 100,000 sources (docs/PERFORMANCE.md);
# LIVE=1 captures with af-packet from a veth that tcpreplay feeds, in two namespaces.
bench-memory: build
	python3 scripts/bench-memory.py $(if $(LIVE),--live)

bench-report: build
	bash scripts/bench-report.sh

bench-enforce: build
	ip netns del sgbench 2>/dev/null || true
	ip netns add sgbench
	ip netns exec sgbench target/release/enforce-bench; rc=$$?; ip netns del sgbench; exit $$rc

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets --locked -- -D warnings
	scripts/check-deps.sh

# Coverage-guided fuzzing (docs/RELIABILITY.md): cargo-fuzz on the stable toolchain.
# fuzz-smoke: replays fuzz/regressions, then every target 15 s (CI-sized, fails on a crash).
# fuzz: every target FUZZ_SECONDS seconds, one after the other (make fuzz FUZZ_SECONDS=300).
FUZZ_SECONDS ?= 60

fuzz-smoke:
	scripts/fuzz.sh smoke

fuzz:
	scripts/fuzz.sh run all $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
