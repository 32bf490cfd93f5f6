# Thin, visible wrappers around cargo. `make check` is the main job; `make test` the tests.
CARGO ?= cargo

.PHONY: check reports test bench lint html-check

## Check every scenario under its engines and write the race reports to reports/; then run
## the litmus tests of litmus/ against the LKMM (agreement N of M). Fails if either fails.
check:
	$(CARGO) run --release -q -- check; s=$$?; \
	$(CARGO) run --release -q -- litmus litmus; l=$$?; \
	test $$s -eq 0 && test $$l -eq 0

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

## The HTML report in a real browser: `check --html` of three scenarios, rendered by headless
## Chromium (Debian's package `chromium`); checks the dumped DOM (a row per run, an SVG per
## violation) and a screenshot (its size, not blank, the offending access marked in red).
html-check:
	$(CARGO) build --release -q
	python3 tools/html_check.py
