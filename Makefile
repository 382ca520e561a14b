# Tern: the two commands are `make demo` and `make test`.
#   make demo   installs the lab's Debian packages, builds, and boots a Linux guest with tern
#               in a 2-node NUMA lab, showing the console as it happens.
#   make test   everything CI runs: format check, clippy (warnings denied), unit tests, the
#               host KVM smoke tests and the lab integration tests.
#   make bench  the benchmark suite (see bench/).

CARGO ?= cargo
LAB := $(CARGO) run --release --quiet -p tern-tests --bin tern-lab --

.PHONY: all deps resources build demo test lint unit clean bench fuzz fuzz-virtio

all: build

deps:
	resources/install-deps.sh

resources: deps
	resources/fetch-kernel.sh
	resources/build-guest-initramfs.sh
	resources/build-disk-image.sh

build:
	$(CARGO) build --release --workspace --exclude tern-workload

demo: resources build
	$(LAB) --nodes 2 --node-mib 1024 --echo --name demo --script resources/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The lab's own failures are retried (at most twice per run) and counted: make test ends with
# "lab retries: N of M lab runs", and fails when more than one run in five needed a retry.
test: resources build lint
	$(LAB) --ledger reset
	status=0; $(CARGO) test --release --workspace || status=$$?; \
	$(LAB) --ledger summary || status=1; exit $$status

# BENCH_ARGS passes options to tern-bench, e.g. BENCH_ARGS="--only boot,footprint".
bench: resources build
	$(CARGO) run --release --quiet -p tern-tests --bin tern-bench -- $(BENCH_ARGS)

# Fuzzing: each part has its own sub-target; `make fuzz` runs them all.
fuzz: fuzz-virtio

# The virtio devices' request parsing against in-memory guest memory (FUZZ_ITERATIONS,
# FUZZ_SEEDS, FUZZ_SEED: see resources/fuzz-virtio.sh).
fuzz-virtio:
	resources/fuzz-virtio.sh

clean:
	$(CARGO) clean
	rm -rf resources/cache
