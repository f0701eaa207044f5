# The README's two commands: `make run` (the main job) and `make test` (every test).
# Each installs what it needs first (scripts/setup.sh), idempotently.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

.PHONY: run test setup lint bench build

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release

run: build
	bash scripts/run-main.sh

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: lint
	$(CARGO) test --release
	bash scripts/test-debian-package.sh

bench: build
	bash bench/run-all.sh
