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
LAMBDA_PIN  := cargo-lambda==1.9.2
# zig, which cargo-lambda cross-compiles with: only `make build` needs it.
ZIG         := $(VENV)/.ziglang-0.17.1
ZIG_PIN     := ziglang==0.17.1
LINT        := $(VENV)/bin/cfn-lint
LINT_PINS   := cfn-lint==1.58.0
# The AWS CLI the deploy test drives (users bring their own, v1 or v2).
AWSCLI      := $(VENV)/bin/aws
AWSCLI_PIN  := awscli==1.46.3
# Local mode's Compose, for the builds' `docker compose` (Hub's autotests): Debian's 1.0.3
# refuses `logs --no-color` and `down --remove-orphans` and leaves networks behind.
COMPOSE     := $(VENV)/bin/podman-compose
COMPOSE_PIN := podman-compose==1.6.0
CHECKOV     := .venv-checkov/bin/checkov
CHECKOV_PIN := checkov==3.3.30
TEMPLATES   := $(wildcard cfn/*.yml)
DEPLOY      := bash cfn/deploy.sh
CARGO_TARGET := $(or $(CARGO_TARGET_DIR),target)
# Every binary of the workspace. `--benches` makes cargo resolve features as `cargo test` and
# `cargo clippy --all-targets` do (with the dev-dependencies'), so these binaries are the
# very ones the test build makes, and nothing is compiled twice. crates/local builds the
# functions with the same arguments (lambda.rs, build_command).
BINS        := $(CARGO) build --quiet --locked --workspace --bins --benches

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(MOTO):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet '$(MOTO_PIN)'

$(LAMBDA): | $(MOTO)
	$(VENV)/bin/pip install --quiet $(LAMBDA_PIN)

$(ZIG): | $(MOTO)
	$(VENV)/bin/pip install --quiet $(ZIG_PIN)
	touch $@

$(LINT): | $(MOTO)
	$(VENV)/bin/pip install --quiet $(LINT_PINS)

$(AWSCLI): | $(MOTO)
	$(VENV)/bin/pip install --quiet '$(AWSCLI_PIN)'

$(COMPOSE): | $(MOTO)
	$(VENV)/bin/pip install --quiet '$(COMPOSE_PIN)'

$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet '$(CHECKOV_PIN)'

$(FIXTURES): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund --loglevel=error
	touch $@

# Local mode's Debian packages: a registry with htpasswd auth, podman where no Docker
# engine runs, skopeo (re-tags: buildx imagetools' stand-in), busybox-static (the sample
# repository's shell), runc (runs containers where crun cannot, as in gVisor) and the CNI
# dnsname plugin (Compose's services find each other by name). Installed with apt-get when
# missing and root; otherwise named.
DNSNAME     := golang-github-containernetworking-plugin-dnsname
LOCAL_PKGS  := podman docker-registry apache2-utils skopeo busybox-static runc $(DNSNAME)

local-deps: ## install what local mode needs: podman, docker-registry, htpasswd (apt-get, as root)
	@need=0; \
	for tool in docker-registry htpasswd skopeo; do command -v $$tool >/dev/null || need=1; done; \
	[ -x /bin/busybox ] || need=1; \
	if ! docker info >/dev/null 2>&1; then command -v runc >/dev/null && [ -x /usr/lib/cni/dnsname ] || need=1; fi; \
	command -v podman >/dev/null || docker info >/dev/null 2>&1 || need=1; \
	if [ $$need = 1 ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "== installing $(LOCAL_PKGS) (Debian packages)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(LOCAL_PKGS) >/dev/null; \
	  else \
	    echo "local mode needs podman, runc and the CNI dnsname plugin (or a running Docker engine), docker-registry, htpasswd, skopeo and busybox-static: run 'sudo apt-get install $(LOCAL_PKGS)'"; exit 1; \
	  fi; \
	fi

deps: $(MOTO) $(FIXTURES) $(LAMBDA) $(LINT) $(AWSCLI) $(COMPOSE) $(CHECKOV) local-deps ## install the test tools: moto, cargo-lambda, cfn-lint, the AWS CLI, podman-compose, checkov (venvs) and GitHub's payloads (npm)
	@command -v $(CARGO) >/dev/null || { echo "cargo is required: install Rust from https://rustup.rs"; exit 1; }

# The tests run with .venv first on PATH (moto, cargo-lambda, the AWS CLI). Every cargo
# command of the suite sees the same PATH: some build scripts rerun when it changes.
TEST_PATH := $(abspath $(VENV))/bin:$(PATH)

test: ## run every test: installs, templates, fmt, clippy, one build, then unit, property, handler, moto, deploy and end-to-end tests, with each stage's time
	@CARGO="$(CARGO)" MAKE="$(MAKE)" $(PYTHON) tests/suite.py test

check: $(FIXTURES) ## the inner loop: fmt, clippy and the plain tests (not e2e, deploy, moto); installs only GitHub's example payloads
	@CARGO="$(CARGO)" MAKE="$(MAKE)" $(PYTHON) tests/suite.py check

demo: $(MOTO) $(LAMBDA) $(AWSCLI) $(COMPOSE) local-deps ## the whole pipeline on this machine: a signed push, real builds, a real registry, the notifications
	@echo "== building the dockhand CLI (the first build compiles the AWS SDK: several minutes on two cores)"
	$(BINS)
	$(CARGO_TARGET)/debug/dockhand local demo --workspace .

plan-demo: ## plan a sample monorepo push offline: what would be built, as exact StartBuild requests
	$(BINS)
	@bash tests/demo.sh $(CARGO_TARGET)/debug/dockhand

e2e: deps ## the end-to-end test of local mode alone (real functions, buildspec, git server, podman, registry)
	PATH="$(TEST_PATH)" $(BINS)
	PATH="$(TEST_PATH)" MOTO_SERVER=$(abspath $(MOTO)) \
	  $(CARGO) test --workspace --locked --test e2e -- --nocapture

bench-build: $(MOTO) $(LAMBDA) $(AWSCLI) $(COMPOSE) local-deps ## local mode: the sample's slow image rebuilt without and with the registry layer cache, each on an empty image store
	$(BINS)
	$(CARGO_TARGET)/debug/dockhand local bench-build --workspace .

bench: deps ## criterion benchmark of the listener's pure path (typical push and a 5 MB push)
	$(CARGO) bench --locked -p dockhand-listener --bench listener

lint-templates: $(LINT) $(CHECKOV) ## cfn-lint and checkov on every template (skips are inline, with reasons)
	$(LINT) $(TEMPLATES)
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation $(addprefix -f ,$(TEMPLATES))

# ---------------------------------------------------------------- deploying (README: Deploy to AWS)
# cargo decides whether the CLI is fresh; the deploy verbs read dockhand.json through it.
# Every binary at once: the same selection as make test and make demo, so nothing rebuilds.
cli:
	@$(BINS)

build: $(LAMBDA) $(ZIG) ## build the four functions as arm64 Lambda zips (cargo lambda; at most 4 MiB each)
	$(DEPLOY) build

# DOCKHAND_BINARIES=DIR packages binaries already built instead (cfn/deploy.sh): no cross tools.
deploy: $(if $(DOCKHAND_BINARIES),,$(LAMBDA) $(ZIG)) cli ## check, build, upload and deploy the stack in dockhand.json; print the webhook URL
	$(DEPLOY) deploy

secret: cli ## create the webhook secret if absent; ROTATE=1 adds a new one, RETIRE=1 drops the old
	$(DEPLOY) secret $(if $(ROTATE),rotate,$(if $(RETIRE),retire,create))

registry-token: cli ## store the Docker Hub access token (read from the terminal, never echoed) in SSM
	$(DEPLOY) registry-token

github-token: cli ## store a GitHub token (read from the terminal, never echoed) in SSM, for private repositories and commit statuses
	$(DEPLOY) github-token

outputs: cli ## print the stack's outputs and how to add the webhook in GitHub
	$(DEPLOY) outputs

# FN, REPLAY, REPO, SINCE and REDELIVER reach the script as the environment make gives a
# recipe (they come from the command line), expanded by the shell inside quotes: never
# evaluated. `dockhand stack-parameters` checks each (cfn/deploy.sh passes them on).
dead-letters: cli ## what failed, one line each (the dead-letter queue); REPLAY=1 sends each record back where it came from
	$(DEPLOY) dead-letters "$${REPLAY:-}"

logs: cli ## the last hour of a function's logs: make logs FN=listener|spawner|notifier|cleanup|build
	$(DEPLOY) logs "$${FN:-}"

deliveries: cli ## failed webhook deliveries of REPO=owner/name since SINCE (3d); REDELIVER=1 redelivers them (GITHUB_TOKEN)
	$(DEPLOY) deliveries "$${REPO:-}" "$${SINCE:-}" "$${REDELIVER:-}"

destroy: cli ## delete the stack and its uploaded zips (keeps the secret and the bucket)
	$(DEPLOY) destroy

release: ## build the Lambda binaries and the CLI with the size-tuned release profile
	$(CARGO) build --release --locked --workspace --bins

clean: ## remove build outputs and installed test tools
	$(CARGO) clean
	rm -rf $(VENV) .venv-checkov tests/node_modules

.PHONY: help deps local-deps test check e2e lint-templates demo plan-demo bench bench-build cli build deploy secret registry-token github-token outputs dead-letters logs deliveries destroy release clean
