# Tern: the two commands are `make demo` and `make test`.
#   make demo   installs the lab's Debian packages, builds, and boots a Linux guest with tern
#               in a 2-node NUMA lab from its disk, network up and vCPUs pinned to their nodes, and shows
#               where its memory and vCPUs sit before and after memory follows a pinned vCPU.
#   make test   everything CI runs: format check, clippy (warnings denied), unit tests, the
#               host KVM smoke tests and the lab integration tests.
#   make bench  the benchmark suite (see bench/).
#   make soak   1000 live moves with faults in the lab (SOAK_MOVES=N), bench/results/soak.json.
#   make fuzz   the virtio and API fuzzers (100,000 hostile requests), then libFuzzer targets.

CARGO ?= cargo
LAB := $(CARGO) run --release --quiet -p tern-tests --bin tern-lab --

.PHONY: all deps resources build demo test lint unit clean bench soak fuzz fuzz-virtio fuzz-api

all: build

deps:
	resources/install-deps.sh

resources: deps
	resources/fetch-kernel.sh
	resources/build-guest-initramfs.sh
	resources/build-disk-image.sh
	resources/build-lab-qemu.sh

build:
	$(CARGO) build --release --workspace --exclude tern-workload

demo: resources build
	$(LAB) --nodes 2 --node-mib 1024 --echo --name demo --file resources/cache/rootfs.ext4:/images/rootfs.ext4 --script resources/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# The lab's own failures are retried (at most twice per run) and counted: make test ends with
# "lab retries: N of M lab runs", and fails when more than one run in five needed a retry.
test: resources build lint
	$(LAB) --ledger reset
	status=0; $(CARGO) test --release --workspace --no-fail-fast || status=$$?; \
	$(LAB) --ledger summary || status=1; exit $$status

# BENCH_ARGS passes options to tern-bench, e.g. BENCH_ARGS="--only boot,footprint".
bench: resources build
	$(CARGO) run --release --quiet -p tern-tests --bin tern-bench -- $(BENCH_ARGS)

# The soak (see README, Reliability): SOAK_MOVES live moves of a running guest in the lab with
# faults, each checked from the host's side; SOAK_SEED replays a run's moves.
SOAK_MOVES ?= 1000
soak: resources build
	$(CARGO) run --release --quiet -p tern-tests --bin tern-soak -- --moves $(SOAK_MOVES) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

# Fuzzing: each part has its own sub-target; `make fuzz` runs them all.
fuzz: fuzz-virtio fuzz-api

# The virtio devices' request parsing against in-memory guest memory (FUZZ_ITERATIONS,
# FUZZ_SEEDS, FUZZ_SEED: see resources/fuzz-virtio.sh).
fuzz-virtio:
	resources/fuzz-virtio.sh

# The API fuzzer (see README, The API): FUZZ_REQUESTS raw requests against a real tern,
# FUZZ_SEED to replay a run; then the cargo-fuzz target on request bodies for FUZZ_SECONDS,
# where a nightly toolchain is installed (libFuzzer needs it).
FUZZ_REQUESTS ?= 100000
FUZZ_SECONDS ?= 120
fuzz-api: build
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
