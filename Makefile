# Two commands for a newcomer: `make test` (and, later, `make run`).
# Every target sets itself up: .venv is created and filled from the lock once,
# and again only when pyproject.toml or the lock changes.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/constraints.txt

.PHONY: install test lint bench lock clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	@# The Spark provider pulls pyspark-client (Spark Connect only, 4.2), which
	@# overwrites pyspark's own modules; put the full 4.3 pyspark back on top.
	$(BIN)/python -m pip install --quiet --no-deps --force-reinstall -c $(LOCK) pyspark
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check grouprebate spark_jobs dags expectations tests

bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -s

# Re-resolve the lock (needs uv: `pip install uv`); commit the result.
lock:
	echo '-e file://$(CURDIR)[dev]' | uv pip compile - --python-version 3.11 \
	    --no-emit-package grouprebate -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache
