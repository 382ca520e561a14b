# Tern: the two commands are `make demo` and `make test`.
#   make demo   installs the lab's Debian packages, builds, and boots a Linux guest with tern
#               in a 2-node NUMA lab, showing the console as it happens.
#   make test   everything CI runs: format check, clippy (warnings denied), unit tests, the
#               host KVM smoke tests and the lab integration tests.
#   make bench  the benchmark suite (see bench/).
#   make fuzz   the API fuzzer (100,000 hostile requests) and libFuzzer on request bodies.

CARGO ?= cargo
LAB := $(CARGO) run --release --quiet -p tern-tests --bin tern-lab --

.PHONY: all deps resources build demo test lint unit clean bench fuzz

all: build

deps:
	resources/install-deps.sh

resources: deps
	resources/fetch-kernel.sh
	resources/build-guest-initramfs.sh

build:
	$(CARGO) build --release --workspace --exclude tern-workload

demo: resources build
	$(LAB) --nodes 2 --node-mib 1024 --echo --name demo --script resources/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

test: resources build lint
	$(CARGO) test --release --workspace

# BENCH_ARGS passes options to tern-bench, e.g. BENCH_ARGS="--only boot,footprint".
bench: resources build
	$(CARGO) run --release --quiet -p tern-tests --bin tern-bench -- $(BENCH_ARGS)

# The API fuzzer (see README, The API): FUZZ_REQUESTS raw requests against a real tern,
# FUZZ_SEED to replay a run; then the cargo-fuzz target on request bodies for FUZZ_SECONDS,
# where a nightly toolchain is installed (libFuzzer needs it).
FUZZ_REQUESTS ?= 100000
FUZZ_SECONDS ?= 120
fuzz: build
	$(CARGO) run --release --quiet -p tern-tests --bin tern-api-fuzz -- --requests $(FUZZ_REQUESTS) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))
	@if rustup run nightly rustc --version >/dev/null 2>&1; then \
		command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz; \
		mkdir -p target/fuzz-corpus; \
		cd api && cargo +nightly fuzz run request_bodies ../target/fuzz-corpus fuzz/corpus/request_bodies -- -max_total_time=$(FUZZ_SECONDS); \
	else \
		echo "make fuzz: no nightly toolchain, so no libFuzzer run (rustup toolchain install nightly)"; \
	fi

clean:
	$(CARGO) clean
	rm -rf resources/cache
