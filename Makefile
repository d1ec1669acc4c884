# Two commands do everything on a fresh machine: `make run AOI=rostov` and `make test`.
# Both create .venv and install the project into it on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-$(shell sha256sum pyproject.toml 2>/dev/null | cut -c1-16)
AOI    ?=
OUT    ?= outputs
# pytest-xdist workers for `make test` (0: serial)
PYTEST_WORKERS ?= 2

.PHONY: run test lint validate clean help venv watch

help:
	@echo "make run AOI=<name>   check every claim and site of configs/<name>.yaml (try AOI=demo offline)"
	@echo "make watch AOI=<name> process new acquisitions of every site (cron-safe; see README)"
	@echo "make test             run the test suite"
	@echo "make lint             ruff + mypy + vulture (dead code; scripts/vulture_whitelist.py)"
	@echo "make validate         validate every config in configs/"
	@echo "make clean            remove outputs, caches and the virtual environment"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.stamp-*
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	@test -n "$(AOI)" || { echo "usage: make run AOI=<name>   (configs: $$(ls configs | sed 's/\.yaml$$//' | tr '\n' ' '))"; exit 2; }
	$(BIN)/pipeline run $(AOI) --out $(OUT)

watch: $(STAMP)
	@test -n "$(AOI)" || { echo "usage: make watch AOI=<name>"; exit 2; }
	$(BIN)/pipeline watch --aoi $(AOI) --out $(OUT)

validate: $(STAMP)
	$(BIN)/pipeline validate configs/*.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks scripts notebooks
	$(BIN)/ruff format --check pipeline tests benchmarks scripts notebooks
	$(BIN)/mypy pipeline
	$(BIN)/vulture pipeline benchmarks scripts notebooks --min-confidence 60 \
		--ignore-decorators "@field_validator,@model_validator"

clean:
	rm -rf outputs .pytest_cache .mypy_cache .ruff_cache *.egg-info $(VENV)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
