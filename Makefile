# Two commands for a newcomer: `make run` (the demo campaign end to end) and `make test`.
# Every target sets itself up: .venv is created and filled from the lock once,
# and again only when pyproject.toml or the lock changes.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/constraints.txt

# The demo campaign of `make run`: a generated landing zone and the 2018 rules.
WORK        ?= work
DEMO_GROUPS ?= 3000
DEMO_SEED   ?= 2018
CONFIG      ?= config/xhq-2018.yaml
# A second `make run` resumes after the last date that succeeded; RUN_ARGS=--rerun runs all.
RUN_ARGS    ?=
# The demo campaign runs on public demo secrets, asked for explicitly (`--demo`, printed
# in the run's banner); a real campaign exports its own, and a run without them refuses.
DEMO_SECRETS := GROUPREBATE_DRAW_SEED=demo-draw-seed GROUPREBATE_PSEUDONYM_KEY=demo-pseudonym-key

.PHONY: install test lint bench lock clean run airflow

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	@# The Spark provider pulls pyspark-client (Spark Connect only, 4.2), which
	@# overwrites pyspark's own modules; put the full 4.3 pyspark back on top.
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall -c $(LOCK) pyspark
	@touch $(STAMP)

# Lint first: a style slip fails in seconds, not after the suite. The Data Docs test opens
# the reports in Debian's Chromium, installed here when the machine lacks it (needs root).
CHROMIUM ?= /usr/bin/chromium
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: $(STAMP)
	@test -d $(WORK)/landing || $(BIN)/grouprebate generate --out $(WORK)/landing \
	    --groups $(DEMO_GROUPS) --seed $(DEMO_SEED)
	$(BIN)/grouprebate run --demo --landing $(WORK)/landing --config $(CONFIG) --workdir $(WORK)/run \
	    $(RUN_ARGS)

# Airflow's own UI on http://127.0.0.1:$(AIRFLOW_PORT) with the campaign DAG loaded (Ctrl-C
# stops it). `airflow standalone` starts its components as `airflow ...` commands, found on
# PATH; its Spark tasks each run a local Spark (a JVM per task: for watching, not for speed).
AIRFLOW_PORT ?= 8080
AIRFLOW_UI   := $(abspath $(WORK))/airflow-ui
airflow: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH \
	AIRFLOW_CONN_SPARK_GROUPREBATE='{"conn_type": "spark", "host": "local[*]"}' \
	AIRFLOW_HOME=$(AIRFLOW_UI) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	GROUPREBATE_LANDING=$(abspath $(WORK))/landing GROUPREBATE_WORKDIR=$(AIRFLOW_UI) \
	GROUPREBATE_CONFIG=$(abspath $(CONFIG)) $(DEMO_SECRETS) \
	$(BIN)/airflow standalone

# sqlfluff's dbt templater compiles the project with the lint-only vars of dbt/.sqlfluff, on
# an in-memory DuckDB; dbt's target/ goes under WORK, never into the repository.
lint: $(STAMP)
	$(BIN)/ruff check grouprebate spark_jobs expectations dags tests benchmarks
	cd dbt && GROUPREBATE_WAREHOUSE=:memory: DBT_TARGET_PATH=$(abspath $(WORK))/lint/dbt-target \
	    ../$(BIN)/sqlfluff lint models tests macros

# Scale runs, kept out of `make test`: the bench-marked tests (generator throughput, dbt
# builds), then every stage timed at BENCH_TIERS (30M and 100M on request) beside the
# DuckDB peer of the attribution, with the skew run at the first tier. Campaigns are
# generated once under WORK/bench and reused; results in benchmarks/results/latest.json.
BENCH_TIERS ?= 1M 10M
bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -s
	$(BIN)/grouprebate bench $(foreach tier,$(BENCH_TIERS),--tier $(tier)) --skew \
	    --workdir $(WORK)/bench

# Re-resolve the lock (needs uv: `pip install uv`); commit the result.
lock:
	echo '-e file://$(CURDIR)[dev]' | uv pip compile - --python-version 3.11 \
	    --no-emit-package grouprebate -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache $(WORK)
