# The README's two commands: `make run` (the main job) and `make test` (every test).
# Each installs what it needs first (scripts/setup.sh), idempotently.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

.PHONY: run test setup lint bench build vendor deb

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release

run: build
	bash scripts/run-main.sh

lint: setup
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# Every test, srukit's own package included (tests/debian_package.rs builds it in a testbed,
# beside the others: scripts/test-all.sh).
test: lint
	CARGO=$(CARGO) bash scripts/test-all.sh

# The crates, for a self-contained source package (debian/README.source).
vendor:
	$(CARGO) vendor --locked --quiet debian/vendor >/dev/null

# srukit's own .deb, built by srukit in a clean testbed: srukit-out/deb/.
deb: build vendor
	target/release/srukit build --tree . --out srukit-out/deb --lintian

bench: build
	bash bench/run-all.sh
