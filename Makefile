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
# Build and lint tools, each pinned; checkov gets its own venv (its pins clash with moto's).
LAMBDA      := $(VENV)/bin/cargo-lambda
LAMBDA_PINS := cargo-lambda==1.9.2 ziglang==0.17.1
LINT        := $(VENV)/bin/cfn-lint
LINT_PINS   := cfn-lint==1.58.0
# The AWS CLI the deploy test drives (users bring their own, v1 or v2).
AWSCLI      := $(VENV)/bin/aws
AWSCLI_PIN  := awscli==1.46.3
CHECKOV     := .venv-checkov/bin/checkov
CHECKOV_PIN := checkov==3.3.30
TEMPLATES   := $(wildcard cfn/*.yml)
DEPLOY      := bash cfn/deploy.sh

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(MOTO):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet '$(MOTO_PIN)'

$(LAMBDA): | $(MOTO)
	$(VENV)/bin/pip install --quiet $(LAMBDA_PINS)

$(LINT): | $(MOTO)
	$(VENV)/bin/pip install --quiet $(LINT_PINS)

$(AWSCLI): | $(MOTO)
	$(VENV)/bin/pip install --quiet '$(AWSCLI_PIN)'

$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet '$(CHECKOV_PIN)'

$(FIXTURES): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund --loglevel=error
	touch $@

deps: $(MOTO) $(FIXTURES) $(LAMBDA) $(LINT) $(AWSCLI) $(CHECKOV) ## install the test tools: moto, cargo-lambda, cfn-lint, the AWS CLI, checkov (venvs) and GitHub's payloads (npm)
	@command -v $(CARGO) >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs"; exit 1; }

test: deps lint-templates ## run every test: formatting, lints, templates, unit, property, handler, moto and deploy tests
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@mkdir -p .work
	PATH="$(abspath $(VENV))/bin:$$PATH" MOTO_SERVER=$(abspath $(MOTO)) \
	  $(CARGO) test --workspace --locked 2>&1 | tee .work/test.log
	@awk '/^test result:/ { passed += $$4; failed += $$6 } END { printf "%d passed, %d failed\n", passed, failed }' .work/test.log

demo: ## plan a sample monorepo push: what would be built, as exact StartBuild requests
	$(CARGO) build --quiet --locked -p dockhand-cli
	@bash tests/demo.sh target/debug/dockhand

bench: deps ## criterion benchmark of the listener's pure path (typical push and a 5 MB push)
	$(CARGO) bench --locked -p dockhand-listener --bench listener

lint-templates: $(LINT) $(CHECKOV) ## cfn-lint and checkov on every template (skips are inline, with reasons)
	$(LINT) $(TEMPLATES)
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation $(addprefix -f ,$(TEMPLATES))

# ---------------------------------------------------------------- deploying (README: Deploy to AWS)
# cargo decides whether the CLI is fresh; the deploy verbs read dockhand.json through it.
cli:
	@$(CARGO) build --quiet --locked -p dockhand-cli

build: $(LAMBDA) ## build the four functions as arm64 Lambda zips (cargo lambda; at most 4 MiB each)
	$(DEPLOY) build

deploy: $(LAMBDA) cli ## check, build, upload and deploy the stack in dockhand.json; print the webhook URL
	$(DEPLOY) deploy

secret: cli ## create the webhook secret if absent; ROTATE=1 adds a new one, RETIRE=1 drops the old
	$(DEPLOY) secret $(if $(ROTATE),rotate,$(if $(RETIRE),retire,create))

registry-token: cli ## store the Docker Hub access token (read from the terminal, never echoed) in SSM
	$(DEPLOY) registry-token

outputs: cli ## print the stack's outputs and how to add the webhook in GitHub
	$(DEPLOY) outputs

logs: cli ## the last hour of a function's logs: make logs FN=listener|spawner|notifier|cleanup|build
	$(DEPLOY) logs $(FN)

destroy: cli ## delete the stack and its uploaded zips (keeps the secret and the bucket)
	$(DEPLOY) destroy

release: ## build the Lambda binaries and the CLI with the size-tuned release profile
	$(CARGO) build --release --locked --workspace --bins

clean: ## remove build outputs and installed test tools
	$(CARGO) clean
	rm -rf $(VENV) .venv-checkov tests/node_modules

.PHONY: help deps test lint-templates demo bench cli build deploy secret registry-token outputs logs destroy release clean
