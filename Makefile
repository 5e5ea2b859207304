# borderbus: `make demo` and `make test` set everything up themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SECONDS ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= 3

include ops/kafka/kafka.mk

.PHONY: help venv map-data tools system-packages helm demo test test-unit lint schemas-check topics bench quality soak-kill chaos fuzz clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP) ## Create .venv and install borderbus with its test tools

MAP_DATA := services/borderbus_desk/console/vendor/world-atlas
map-data: ## Fetch the console's vendored base map again from npm (world-atlas 2.0.2: Natural Earth 110m, ISC)
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent world-atlas@2.0.2 >/dev/null && tar xzf world-atlas-2.0.2.tgz \
	  && cp package/countries-110m.json package/LICENSE $(CURDIR)/$(MAP_DATA)/ && rm -rf $$tmp
	@echo "updated $(MAP_DATA)/countries-110m.json"

tools: system-packages helm ## Everything outside Python the tests use

system-packages: ## Debian packages: prometheus, promtool, chromium, kcat (apt-get, first time only)
	@bash ops/setup/system-packages.sh

helm: ## helm, built from its Go module into .local/bin (first time only)
	@bash ops/setup/install-helm.sh

demo: $(STAMP) system-packages kafka-up ## Run the whole bus and show events flowing (DEMO_SECONDS=N stops after N seconds)
	@$(BIN)/borderbus topics apply
	@$(BIN)/borderbus users apply
	@$(BIN)/borderbus acls apply
	@$(BIN)/borderbus demo $(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS))

test: $(STAMP) tools kafka-jars lint schemas-check ## Lint, check schemas, run the whole suite against a real broker (TEST_WORKERS test processes sharing it, one test file each at a time)
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-unit: $(STAMP) ## Only the broker-free tests
	@$(BIN)/python -m pytest -m "not broker" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy on services/
	@$(BIN)/ruff check services tests
	@$(BIN)/mypy services

schemas-check: $(STAMP) ## Fail if a schema version breaks compatibility or a published one was edited
	@$(BIN)/borderbus schemas check

topics: $(STAMP) kafka-up ## Create or update topics, SCRAM users and ACLs on the local broker
	@$(BIN)/borderbus topics apply
	@$(BIN)/borderbus users apply
	@$(BIN)/borderbus acls apply

clean: kafka-down ## Stop the broker and delete generated data (keeps downloaded jars)
	rm -rf .local/kafka/instance .local/*.json .pytest_cache .mypy_cache .ruff_cache

bench: $(STAMP) kafka-up ## Benchmarks (not tests): print figures and write .local/bench/*.json
	@$(BIN)/borderbus users apply
	@mkdir -p .local/bench
	@for script in tests/bench/bench_*.py; do \
	  name=$$(basename $$script .py); echo "== $$name"; \
	  $(BIN)/python $$script --out .local/bench/$${name#bench_}.json || exit 1; \
	done

QUALITY_SEEDS ?= 12
quality: $(STAMP) ## Recall and precision per rule over QUALITY_SEEDS simulator seeds (no broker); writes .local/bench/quality.json
	@mkdir -p .local/bench
	@$(BIN)/python tests/bench/quality.py --seeds $(QUALITY_SEEDS) --out .local/bench/quality.json

SOAK_ROUNDS ?= 20
soak-kill: $(STAMP) kafka-jars ## SIGKILL a correlator worker at random moments SOAK_ROUNDS times; writes .local/bench/soak-kill.json
	@mkdir -p .local/bench
	@$(BIN)/python tests/bench/soak_kill.py --rounds $(SOAK_ROUNDS) --out .local/bench/soak-kill.json

CHAOS_SECONDS ?= 600
CHAOS_SEED ?=
chaos: $(STAMP) kafka-jars ## Faults (kill/pause agencies, workers, desk, one broker at a time) on a 3-node cluster for CHAOS_SECONDS, then the checker; writes .local/bench/chaos.json
	@mkdir -p .local/bench
	@$(BIN)/python tests/bench/chaos.py --seconds $(CHAOS_SECONDS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) --out .local/bench/chaos.json --text .local/bench/chaos.txt

FUZZ_REQUESTS ?= 100000
FUZZ_MESSAGES ?= 100000
fuzz: $(STAMP) kafka-jars ## Hostile input at volume: FUZZ_REQUESTS generated requests per HTTP API, FUZZ_MESSAGES mutated records through the decoder; writes .local/bench/fuzz.json
	@rm -rf .local/bench/fuzz-parts && mkdir -p .local/bench
	@start=$$(date +%s); \
	BORDERBUS_FUZZ_REQUESTS=$(FUZZ_REQUESTS) BORDERBUS_FUZZ_MESSAGES=$(FUZZ_MESSAGES) BORDERBUS_FUZZ_RANDOM=1 \
	BORDERBUS_FUZZ_REPORT=.local/bench/fuzz-parts \
	$(BIN)/python -m pytest tests/fuzz -p no:cacheprovider --timeout=7200 -q -s $(PYTEST_ARGS); status=$$?; \
	$(BIN)/python tests/fuzz/report.py --parts .local/bench/fuzz-parts --out .local/bench/fuzz.json --seconds $$(( $$(date +%s) - start )); \
	exit $$status
