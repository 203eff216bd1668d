# dockhand: the verbs a user types. `make demo` and `make test` work on a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
PYTHON      ?= python3
MOTO        := $(VENV)/bin/moto_server
MOTO_PIN    := moto[server]==5.2.1
FIXTURES    := tests/node_modules/@octokit/webhooks-examples/api.github.com/index.json
CARGO       ?= cargo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(MOTO):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet '$(MOTO_PIN)'

$(FIXTURES): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund --loglevel=error
	touch $@

deps: $(MOTO) $(FIXTURES) ## install the test tools: moto (into .venv) and GitHub's example payloads (npm)
	@command -v $(CARGO) >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs"; exit 1; }

test: deps ## run every test: formatting, lints, unit, property, handler and moto tests
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@mkdir -p .work
	MOTO_SERVER=$(abspath $(MOTO)) $(CARGO) test --workspace --locked 2>&1 | tee .work/test.log
	@awk '/^test result:/ { passed += $$4; failed += $$6 } END { printf "%d passed, %d failed\n", passed, failed }' .work/test.log

demo: ## plan a sample monorepo push: what would be built, as exact StartBuild requests
	$(CARGO) build --quiet --locked -p dockhand-cli
	@bash tests/demo.sh target/debug/dockhand

bench: deps ## criterion benchmark of the listener's pure path (typical push and a 5 MB push)
	$(CARGO) bench --locked -p dockhand-listener --bench listener

release: ## build the Lambda binaries and the CLI with the size-tuned release profile
	$(CARGO) build --release --locked --workspace --bins

clean: ## remove build outputs and installed test tools
	$(CARGO) clean
	rm -rf $(VENV) tests/node_modules

.PHONY: help deps test demo bench release clean
