# shelfcast: `make demo` and `make test` are all a fresh clone needs (uv is the only prerequisite).
UV ?= uv
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export SHELFCAST_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(SHELFCAST_HOME)/dagster_home
# dbt resolves the profile while parsing; the warehouse resource sets the same path at run time.
export SHELFCAST_DUCKDB_PATH ?= $(SHELFCAST_HOME)/warehouse.duckdb
# SHELFCAST_WAREHOUSE=postgres: warehouse, Dagster instance and MLflow on one server, three databases.
export SHELFCAST_WAREHOUSE ?= duckdb
ifeq ($(SHELFCAST_WAREHOUSE),postgres)
export SHELFCAST_PG_DSN ?= postgresql://postgres@127.0.0.1:5432/shelfcast
export SHELFCAST_DAGSTER_PG_URL ?= $(SHELFCAST_PG_DSN)_dagster
INSTANCE_TEMPLATE := deploy/dagster-postgres.yaml
else
INSTANCE_TEMPLATE := deploy/dagster-local.yaml
endif

.PHONY: runtime install settings manifest instance demo serve drift-demo dev test lint bench-venv bench bench-quick deploy-check clean

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on this machine) Python never caches .pyc, so
# every run, step and dbt call recompiled what it imported (drift_scores: ~6 s of its ~18 s at 1k series).
# The runtime alone (what `make demo`, `make dev` and `make serve` need): no test or deploy tools.
# --inexact keeps the dev tools an earlier `make test` installed.
$(BIN)/.runtime: pyproject.toml uv.lock
	@$(UV) sync --quiet --frozen --no-dev --inexact --compile-bytecode
	@touch $@

# The runtime and the dev group (pytest, ruff, the deploy validators): `make test`, `make lint`.
$(BIN)/.installed: pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode
	touch $@

runtime: $(BIN)/.runtime

install: $(BIN)/.installed

# Every SHELFCAST_* value usable, said in one line per variable otherwise (before dbt parses with them).
settings: runtime
	@$(BIN)/python -m platform_assets.cli.check_settings

manifest: runtime
	@$(BIN)/dagster-dbt project prepare-and-package --file platform_assets/storage/dbt_project.py >/dev/null

# The instance follows the warehouse: copied on every run so switching SHELFCAST_WAREHOUSE just works.
instance: runtime
	@mkdir -p $(DAGSTER_HOME)
	@cp $(INSTANCE_TEMPLATE) $(DAGSTER_HOME)/dagster.yaml
	@$(BIN)/python -m platform_assets.cli.setup_databases

# One line per step on the console, the full logs in $(SHELFCAST_HOME)/logs/ (SHELFCAST_VERBOSE=1: all
# of them on the console too).
demo: settings manifest instance
	@DBT_USE_COLORS=false $(BIN)/python -m platform_assets.cli.demo

# The HTTP API over the newest serving bundle (`make demo` publishes one). The first run creates an
# admin API key and prints it once, on the last line before the server starts: only its hash is kept.
serve: runtime
	$(BIN)/shelfcast keys create --name local --scope admin --if-none
	$(BIN)/shelfcast serve

# The monitoring loop on its own home (fresh each time): clean history, drifted periods, drift check,
# retrain sensor, retrain, promotion gate. `make dev SHELFCAST_HOME=data/drift-demo` shows it after.
DRIFT_HOME := $(SHELFCAST_HOME)/drift-demo
drift-demo: settings manifest
	rm -rf $(DRIFT_HOME)
	mkdir -p $(DRIFT_HOME)/dagster_home
	cp deploy/dagster-local.yaml $(DRIFT_HOME)/dagster_home/dagster.yaml
	SHELFCAST_HOME=$(DRIFT_HOME) DAGSTER_HOME=$(DRIFT_HOME)/dagster_home \
	SHELFCAST_DUCKDB_PATH=$(DRIFT_HOME)/warehouse.duckdb $(BIN)/python -m platform_assets.cli.drift_demo

dev: settings manifest instance
	$(BIN)/dagster dev -w workspace.yaml

lint: install
	$(BIN)/ruff check .

test: install manifest
	$(BIN)/ruff check .
	$(BIN)/pytest

BENCH_VENV := .venv-bench

# Benchmarks (BENCHMARKS.md, bench/results/*.json). Their yardsticks (Evidently, statsforecast,
# mlforecast) live in the optional `bench` group, installed into $(BENCH_VENV) so that no `uv sync`
# of the project venv ever removes them mid-run. The graph benches need the dbt manifest.
# The scale bench runs 1k and 10k series here; 50k is opt-in: `python bench/scale_bench.py --sizes 50k`.
bench-venv:
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) $(UV) sync --frozen --group bench

bench: manifest bench-venv
	$(BENCH_VENV)/bin/python bench/drift_bench.py
	$(BIN)/python bench/warehouse_bench.py
	$(BIN)/python bench/scale_bench.py --sizes 1k,10k
	$(BENCH_VENV)/bin/python bench/accuracy_bench.py
	$(BIN)/python bench/orchestration_bench.py
	$(BIN)/python bench/serving_bench.py
	$(BIN)/python bench/model_predict_bench.py
	$(BIN)/python bench/whatif_bench.py
	$(BIN)/python bench/live_monitoring_bench.py

bench-quick: manifest bench-venv
	$(BENCH_VENV)/bin/python bench/drift_bench.py --quick
	$(BIN)/python bench/warehouse_bench.py --quick
	$(BIN)/python bench/scale_bench.py --quick
	$(BENCH_VENV)/bin/python bench/accuracy_bench.py --quick
	$(BIN)/python bench/orchestration_bench.py --quick
	$(BIN)/python bench/serving_bench.py --quick
	$(BIN)/python bench/live_monitoring_bench.py --quick

clean:
	rm -rf $(SHELFCAST_HOME) dbt_project/target dbt_project/logs

# The Kubernetes deployment checks alone (deploy/README.md): values schema, kustomize overlays,
# kubernetes-validate, the code server as the chart runs it, the Jobs K8sRunLauncher builds.
deploy-check: install manifest
	$(BIN)/pytest -q tests/test_deploy.py
