# Two commands set everything up on a fresh machine with Python 3.11: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
# The files the manifest is parsed from; resources/dbt.manifest_is_stale applies the same
# rule when `dagster dev` loads the definitions (make is not there then).
DBT_SOURCES := $(shell find dbt_project -name '*.sql' -o -name '*.yml' | grep -v -e /target/ -e /logs/)

# The browser test drives Debian's chromium through Playwright (no browser is downloaded):
# installed from Debian's packages when missing, as root or through sudo.
CHROMIUM := /usr/bin/chromium
# PostgreSQL 15 for the instance's tests and INSTANCE=postgres (instance/postgres.py), likewise.
POSTGRES := /usr/lib/postgresql/15/bin/initdb
# Java 17 for Spark (spark/cluster.py), likewise.
JAVA := /usr/lib/jvm/java-17-openjdk-$(shell dpkg --print-architecture 2>/dev/null || echo amd64)/bin/java
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Python caches compiled modules (.pyc) unless told not to; some machines tell it not to
# (PYTHONDONTWRITEBYTECODE), and then every process (each run, each dbt call, each code server)
# compiles its imports from source again: ~3 s more per process start, measured here.
unexport PYTHONDONTWRITEBYTECODE

export DAGSTER_HOME := $(CURDIR)/.dagster_home
# Dagster hands a run's per-partition asset events to the event log in batches of up to this
# many, which platform/dagster.yaml's event log writes in one transaction: a year's backfill
# records ~7,000 of them (internals/event_log_storage.py).
export DAGSTER_EVENT_BATCH_SIZE := 1000
# The repo's packages, and platform/'s modules by name (a package named platform would shadow the
# standard library); pyproject.toml gives pytest the same.
export PYTHONPATH := $(CURDIR):$(CURDIR)/platform
# The venv's tools first for everything make starts (the platform itself finds dbt without it).
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test test-cpu test-fast lint spark-up spark-down dbt-docs instance ui metrics land backtest replay replay-faults rollback review bench bench-scale gate-bench daemon-loop input-gain chaos clean manifest

# ENGINE=spark: the warehouse on Spark (docs/scaling.md), a deployment of its own under
# data/spark-engine (its lake, catalog, cluster, warehouse file and Dagster instance).
ifeq ($(ENGINE),spark)
export ENGINE
export PLATFORM_DATA_DIR := $(CURDIR)/data/spark-engine
export WAREHOUSE_PATH := $(PLATFORM_DATA_DIR)/warehouse.duckdb
export DAGSTER_HOME := $(PLATFORM_DATA_DIR)/dagster_home
ENGINE_UP := spark-up
endif

run: $(STAMP) $(MANIFEST) instance $(ENGINE_UP)  ## land 2013 (if empty), materialize everything [END=, CUTOFF=, ENGINE=spark]
	$(BIN)/python platform/cli.py run $(if $(END),--end $(END)) $(if $(CUTOFF),--cutoff $(CUTOFF))

# Two test files at a time (pytest-xdist, one worker per core): the end-to-end tests spend much
# of their time waiting on daemons, servers and subprocesses.
test: lint $(MANIFEST) $(CHROMIUM) $(POSTGRES) $(JAVA)  ## lint, then every tier: unit, wiring, end-to-end (what CI runs)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=30

# Linux's /proc read once a second, with only the standard library (no venv needed first).
test-cpu:  ## make test, then the CPU of every process it started, by kind (tools/process_cpu.py)
	$(PYTHON) -m tools.process_cpu $(MAKE) test

test-fast: $(STAMP) $(MANIFEST)  ## the unit tier alone: core's rules, no Dagster instance, no warehouse file
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)  ## ruff on the Python, sqlfluff on the SQL dbt compiles
	$(BIN)/ruff check .
	cd dbt_project && WAREHOUSE_PATH=:memory: ../$(BIN)/sqlfluff lint models

# Loopback only unless told otherwise: make ui UI_HOST=0.0.0.0 exposes it (no authentication).
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000

ui: $(STAMP) $(MANIFEST) instance $(ENGINE_UP)  ## Dagster UI + daemon on 127.0.0.1:3000 [INSTANCE=postgres, STOCK=1, ENGINE=spark]
	$(PG_PASSWORD) $(BIN)/dagster dev -w workspace.yaml -h $(UI_HOST) -p $(UI_PORT)

metrics: $(STAMP) instance  ## the service levels for Prometheus: 127.0.0.1:9108/metrics [METRICS_PORT=]
	$(PG_PASSWORD) $(BIN)/python platform/cli.py metrics --port $(or $(METRICS_PORT),9108)

land: $(STAMP)  ## land days: make land START=2013-01-01 END=2013-01-31 [YEARS=N: synthetic history]
	$(BIN)/python platform/cli.py land $(if $(START),--start $(START)) $(if $(END),--end $(END))

backtest: $(STAMP) $(MANIFEST) instance  ## train + evaluate every weekly cutoff
	$(BIN)/python platform/cli.py backtest

replay: $(STAMP)  ## make replay START=2013-04-01 END=2013-05-31 SPEED=60 (seconds per day), with make ui running
	$(BIN)/python platform/cli.py replay $(if $(START),--start $(START)) $(if $(END),--end $(END)) $(if $(SPEED),--seconds-per-day $(SPEED))

replay-faults: $(STAMP) $(MANIFEST)  ## a month under dagster dev with a broken file and a killed run; the service levels it leaves [DAYS=30]
	$(BIN)/python -m tools.replay_faults $(if $(DAYS),--days $(DAYS))

rollback: $(STAMP) $(MANIFEST)  ## make rollback VERSION=<id> WHY="..." [WHO=name]
	$(BIN)/python platform/cli.py rollback $(VERSION) --why "$(WHY)" $(if $(WHO),--who "$(WHO)")

review: $(STAMP) $(MANIFEST)  ## make review ACTION=promote|reject|rollback|pause|resume [VERSION=] [MODEL=] WHY="..."
	$(BIN)/python platform/cli.py review $(ACTION) $(VERSION) $(if $(MODEL),--model $(MODEL)) --why "$(WHY)" $(if $(WHO),--who "$(WHO)")

bench: $(STAMP) $(MANIFEST) $(POSTGRES) $(JAVA)  ## timings, written to .bench/results.json (Spark beside DuckDB too)
	$(BIN)/python -m tools.bench

bench-scale: $(STAMP) $(MANIFEST)  ## 1, 3 and 10 years of history, each in a fresh deployment: cost per stage [SCALE="1 3 10"]
	$(BIN)/python -m tools.bench_scale $(if $(SCALE),--scales $(SCALE))

daemon-loop: $(STAMP) $(MANIFEST) instance  ## after make run END=2013-03-31 CUTOFF=2013-03-17: make daemon-loop START=2013-04-01 END=2013-04-06
	mkdir -p .bench
	$(BIN)/python -m tools.daemon_loop $(if $(START),--start $(START)) $(if $(END),--end $(END))

gate-bench: $(STAMP) $(MANIFEST)  ## the gate's false-promotion rate and power -> .bench/gate.json [KEEP=dir HORIZON=days MARGIN=auc]
	$(BIN)/python -m tools.gate_bench $(if $(KEEP),--keep $(KEEP)) $(if $(HORIZON),--horizon $(HORIZON)) $(if $(MARGIN),--margin $(MARGIN))

input-gain: $(STAMP)  ## after make run: the champion refit on groups of its inputs, AUC of each
	$(BIN)/python -m tools.input_gain

chaos: $(STAMP) $(MANIFEST)  ## bad input, concurrent runs, SIGKILLed writes, random mutations
	$(BIN)/python -m tools.chaos $(if $(RUNS),--runs $(RUNS)) $(if $(KILLS),--kills $(KILLS))
	HYPOTHESIS_PROFILE=chaos $(BIN)/python -m pytest -q -p no:cacheprovider \
		--hypothesis-show-statistics tests/unit/test_validation.py -k mutated

spark-up: $(STAMP) $(JAVA)  ## a Spark standalone master and two workers on loopback (data/spark)
	$(BIN)/python -m spark.cluster up

spark-down: $(STAMP)  ## stop the Spark cluster
	$(BIN)/python -m spark.cluster down

dbt-docs: $(STAMP)  ## dbt's documentation site (lineage, columns) on http://127.0.0.1:8080
	cd dbt_project && ../$(BIN)/dbt docs generate --quiet && ../$(BIN)/dbt docs serve --host 127.0.0.1 --port 8080 --no-browser

manifest: $(MANIFEST)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null

$(JAVA):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null

$(POSTGRES):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null

# The virtual environment: created when missing, reinstalled when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev]"
	touch $@

# dagster-dbt reads the manifest at import; outside `dagster dev` it must exist beforehand.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	cd dbt_project && ../$(BIN)/dbt parse --quiet
	touch $@

# YEARS=N: N years of history, the real 2013 and N - 1 years replayed before it, marked synthetic
# (core/ingest/history.py), for measuring scale: make land YEARS=10, then make run YEARS=10. Every
# command on that deployment takes the same YEARS (its partitions follow it).
ifdef YEARS
export HISTORY_YEARS := $(YEARS)
endif

# The instance's configuration, written before every command that uses it (the choices below
# may differ from the last time): INSTANCE=postgres starts the deployment's own PostgreSQL under
# $(DAGSTER_HOME)/postgres; EVENT_LOG=stock, RUN_LAUNCHER=stock and DBT_RUNS=subprocess put
# Dagster's and dagster-dbt's own parts in place of internals/, RUN_QUEUE=stock its commands in
# place of the tools' run queue (STOCK=1: all four).
export INSTANCE ?= sqlite
ifeq ($(STOCK),1)
export EVENT_LOG := stock
export RUN_LAUNCHER := stock
export DBT_RUNS := subprocess
export RUN_QUEUE := stock
endif
# The deployment's PostgreSQL password, for every process make starts (read from its file).
PG_PASSWORD = $(if $(filter postgres,$(INSTANCE)),DAGSTER_PG_PASSWORD="$$(cat $(DAGSTER_HOME)/postgres/password)")

instance: $(STAMP) $(if $(filter postgres,$(INSTANCE)),$(POSTGRES))
	$(BIN)/python platform/cli.py instance $(DAGSTER_HOME)

clean:  ## remove generated data, the instance and dbt artifacts (keeps .venv)
	rm -rf data .dagster_home dbt_project/target dbt_project/logs .bench
