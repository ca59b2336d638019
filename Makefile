# Every target bootstraps the virtual environment on first use.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

export DATAFLYWHEEL_HOME ?= $(CURDIR)/.dataflywheel
export DAGSTER_HOME ?= $(DATAFLYWHEEL_HOME)/dagster
export DATAFLYWHEEL_WAREHOUSE ?= $(DATAFLYWHEEL_HOME)/warehouse.duckdb
export DBT_PROFILES_DIR ?= $(CURDIR)/dbt_project
export DBT_LOG_PATH ?= $(DATAFLYWHEEL_HOME)/dbt/logs
export DBT_TARGET_PATH ?= $(DATAFLYWHEEL_HOME)/dbt/target
export DO_NOT_TRACK ?= 1

.PHONY: setup demo flywheel test test-fast ui serve docs bench bench-serving bench-spark freshness drift-eval clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# Dagster home with its dagster.yaml, and the dbt manifest that @dbt_assets reads at import.
setup: $(VENV)/.installed
	$(BIN)/dataflywheel setup

demo: setup
	$(BIN)/dataflywheel demo $(ARGS)

# The closed loop: simulated users against the live service for a simulated week, in a home of
# its own, emptied first (look at it with `DATAFLYWHEEL_HOME=$(FLYWHEEL_HOME) make ui`).
FLYWHEEL_HOME := $(DATAFLYWHEEL_HOME)/flywheel
flywheel: setup
	rm -rf $(FLYWHEEL_HOME)
	env DATAFLYWHEEL_HOME=$(FLYWHEEL_HOME) DAGSTER_HOME=$(FLYWHEEL_HOME)/dagster \
		DATAFLYWHEEL_WAREHOUSE=$(FLYWHEEL_HOME)/warehouse.duckdb \
		DBT_LOG_PATH=$(FLYWHEEL_HOME)/dbt/logs DBT_TARGET_PATH=$(FLYWHEEL_HOME)/dbt/target \
		sh -c '$(BIN)/dataflywheel setup >/dev/null && $(BIN)/dataflywheel flywheel $(ARGS)'

test: setup
	$(BIN)/pytest -n 2 --dist loadfile $(ARGS)

# The inner loop: everything but the end-to-end runs marked slow.
test-fast: setup
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow" $(ARGS)

ui: setup
	$(BIN)/dagster dev -w workspace.yaml

# The HTTP service on this home (run `make demo` first for a model and a snapshot to serve).
serve: setup
	$(BIN)/dataflywheel serve --example

docs: setup
	cd dbt_project && $(CURDIR)/$(BIN)/dbt docs generate --static --target-path $(DATAFLYWHEEL_HOME)/dbt_docs
	@echo "dbt docs: $(DATAFLYWHEEL_HOME)/dbt_docs/static_index.html"

bench: setup
	$(BIN)/python -m bench.run $(ARGS)

# Recommendations and events through the HTTP service on this home (after `make demo`).
bench-serving: setup
	$(BIN)/python -m bench.serving $(ARGS)

# The same pipeline on Spark local beside DuckDB, stage by stage (Java 17 needed).
bench-spark: setup
	$(BIN)/python -m bench.spark $(ARGS)

# The online-learning experiment: hourly vs daily vs frozen updates on a week with a shift.
freshness: setup
	$(BIN)/python -m bench.freshness

# Detection and false-alarm rates of the drift report: simulated weeks per drift kind and seed.
drift-eval: setup
	$(BIN)/python -m bench.drift_detection $(ARGS)

clean:
	rm -rf $(DATAFLYWHEEL_HOME)
