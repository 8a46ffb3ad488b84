# todo-suite: one entry point for humans. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
MODE ?= passthrough
DB ?= sqlite
export UV_PYTHON_DOWNLOADS := never

.PHONY: help
help: ## Show this help
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: uv
uv:
	@scripts/ensure-uv

.PHONY: install
install: uv ## Install uv (if missing) and every workspace package into .venv
	uv sync --locked --all-packages --compile-bytecode
	@# Bytecode for our own (editable) packages too: every service process imports them at start, and where
	@# PYTHONDONTWRITEBYTECODE is set (CI images often set it) nothing would ever cache them.
	uv run --no-sync python -m compileall -q libs/*/src services/*/src tools/*/src > /dev/null

.PHONY: up
up: install ## Run the whole suite locally (no cluster); MODE=passthrough|... MESH=1 (Envoy mTLS) DB=sqlite|postgres; Ctrl-C stops it
	uv run --no-sync devstack up --mode $(MODE) --db $(DB) $(if $(filter-out 0 false,$(MESH)),--mesh,)

.PHONY: login
login: ## Sign in as a person (code + PKCE in the browser) against a running `make up`; tokens on stdout only
	@uv run --no-sync python -m devstack.login $(if $(ISSUER),--issuer $(ISSUER),)

.PHONY: chromium
chromium: ## Debian's chromium for the browser tests, installed when missing (as root); never `playwright install`
	@command -v chromium > /dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then apt-get install -y chromium; \
		else echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; fi; }

.PHONY: doctor
doctor: install ## Is this machine ready? Python, uv, curl, jq, Envoy, free ports, Chromium, PostgreSQL (docs/workshop)
	@uv run --no-sync devstack doctor

.PHONY: reset
reset: install ## Delete the run state of `make up` (.run/: databases, secrets, keys, mesh PKI) for a clean start
	@uv run --no-sync devstack reset $(if $(RUN_DIR),--run-dir $(RUN_DIR),)

.PHONY: offline-cache
offline-cache: ## Fill CACHE=<dir> with everything `make install` downloads, for rooms without network (docs/workshop)
	@test -n "$(CACHE)" || { echo "usage: make offline-cache CACHE=<dir>  (then copy <dir> to the room)"; exit 2; }
	@# uv itself, for machines without it (scripts/ensure-uv installs it with pip)
	python3 -m pip download --quiet --disable-pip-version-check --dest "$(CACHE)/pip" "uv==$$(uv --version | cut -d' ' -f2)"
	@# Every locked package and the build backend, synced into a throw-away environment: all land in the cache.
	UV_CACHE_DIR="$(abspath $(CACHE))/uv" UV_PROJECT_ENVIRONMENT="$(abspath $(CACHE))/probe-venv" \
		uv sync --locked --all-packages
	rm -rf "$(CACHE)/probe-venv"
	@echo "copy $(CACHE) to each machine, then: make offline-install CACHE=<that copy>"

.PHONY: offline-install
offline-install: ## make install from an offline-cache (no network): CACHE=<dir>
	@test -n "$(CACHE)" || { echo "usage: make offline-install CACHE=<dir made by make offline-cache>"; exit 2; }
	command -v uv > /dev/null || python3 -m pip install --no-index --find-links "$(CACHE)/pip" uv
	UV_CACHE_DIR="$(abspath $(CACHE))/uv" UV_OFFLINE=1 $(MAKE) install

.PHONY: test
test: install chromium ## Lint, type check, dependency check, then every test: unit and end-to-end (SQLite and PostgreSQL)
	uv run --no-sync ruff check .
	uv run --no-sync ruff format --check .
	uv run --no-sync mypy
	scripts/check-isolated-deps
	scripts/with-postgres uv run --no-sync pytest

.PHONY: unit
unit: install ## Unit tests only (fast)
	uv run --no-sync pytest -m "not e2e"

.PHONY: e2e
e2e: install chromium ## End-to-end tests only (real processes on loopback)
	scripts/with-postgres uv run --no-sync pytest -m e2e

.PHONY: screenshots
screenshots: install chromium ## Retake the web UI's screenshots in docs/screenshots/ (the browser tests take them)
	SCREENSHOTS_DIR=docs/screenshots uv run --no-sync pytest tests/e2e/test_web_ui.py -k passthrough -q

.PHONY: lint
lint: install ## ruff check and format check
	uv run --no-sync ruff check .
	uv run --no-sync ruff format --check .

.PHONY: typecheck
typecheck: install ## mypy over libs/, services/, tools/ and bench/ (configured in pyproject.toml)
	uv run --no-sync mypy

.PHONY: fmt
fmt: install ## Format and autofix
	uv run --no-sync ruff format .
	uv run --no-sync ruff check --fix .

.PHONY: rotate-keys
rotate-keys: ## Rotate identity's signing key on a running `make up` (publish-first); IDP=, RUN_DIR= for another run
	uv run --no-sync devstack rotate-keys $(if $(IDP),--identity $(IDP),) $(if $(RUN_DIR),--run-dir $(RUN_DIR),)

.PHONY: mesh
mesh: install ## Generate the Istio components and the local sidecar configs + dev PKI from mesh/policy.yaml
	uv run --no-sync python -m meshgen

.PHONY: bench
bench: install ## Every hop against its floor in one run; writes docs/benchmarks.md + docs/benchmarks/*.png (~8 min)
	uv run --no-sync python -m bench.report

.PHONY: bench-quick
bench-quick: install ## A smoke run of the whole bench (short windows, nothing written; numbers not for quoting)
	uv run --no-sync python -m bench.report --quick

.PHONY: rename
rename: ## Rename the project (namespace, images, realm, SPIFFE IDs): make rename NAME=acme-tasks (docs/forking.md)
	@test -n "$(NAME)" || { echo "usage: make rename NAME=<new-name>"; exit 2; }
	scripts/rename $(NAME)

.PHONY: docs
docs: install ## Regenerate docs/boundary-modes.md, docs/reference/*.md and k8s/components/modes/modes.json from the code
	uv run --no-sync python -m devstack.modes_data > k8s/components/modes/modes.json
	uv run --no-sync python -m tests.e2e.infra.render_modes > docs/boundary-modes.md
	uv run --no-sync python -m tests.docgen.reference docs/reference

.PHONY: k8s-dev-tls
k8s-dev-tls: ## Development TLS for the k8s Ingress: a throw-away CA + certificate in .run/k8s-tls/, and its Secret (kubectl)
	scripts/k8s-dev-tls
