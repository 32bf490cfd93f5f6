# Thin, visible wrappers around cargo. `make check` is the main job; `make test` the tests.
CARGO ?= cargo

.PHONY: check reports test bench lint

## Check every scenario under its engines and write the race reports to reports/.
check:
	$(CARGO) run --release -q -- check

reports: check

## Every test: kernel-API pairs, property tests, every scenario, bad and fuzzed input, determinism.
test:
	$(CARGO) test --release --workspace

## Executions, wall time, executions/s per scenario and engine; API cost against bare loom.
bench:
	$(CARGO) run --release -q -- bench

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
