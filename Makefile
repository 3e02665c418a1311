# Two commands for a fresh machine: `make run` and `make test`. Each creates .venv when missing and installs the
# project into it (again whenever settings.ini or setup.py changed), then does its job.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)  # apt needs root

.PHONY: run test test-all chromium export check-clean lab bench clean-data

$(INSTALLED): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# ploomber's Jupyter server extension breaks JupyterLab 4 (every file request answers 500): keep it off
	$(BIN)/jupyter server extension disable --sys-prefix ploomber >/dev/null 2>&1
	touch $(INSTALLED)

run: $(INSTALLED)  ## run the reference pipeline (unchanged stages are skipped); e.g. make run ARGS="--env env.test.yaml"
	$(BIN)/mlops-nb run $(ARGS)

# tests run on JOBS processes (pytest-xdist); they use their own embedded stores (and start their own tracking server): never the one in the environment
OWN_STORES := env -u MLFLOW_TRACKING_URI -u MLFLOW_REGISTRY_URI
JOBS ?= 2

test: $(INSTALLED) chromium  ## the fast tier, a few minutes: notebook tests, then pytest without the end-to-end tests
	$(OWN_STORES) timeout 900 $(BIN)/nbdev_test --n_workers 2
	$(OWN_STORES) timeout 900 $(BIN)/python -m pytest -n $(JOBS) -m "not e2e"

test-all: $(INSTALLED) chromium  ## everything CI runs: notebook tests, all of pytest, the DAG under a real Airflow
	$(OWN_STORES) timeout 900 $(BIN)/nbdev_test --n_workers 2
	$(OWN_STORES) timeout 4500 $(BIN)/python -m pytest -n $(JOBS)
	$(OWN_STORES) timeout 900 scripts/check_airflow.sh

chromium:  ## Debian's chromium for the browser tests (Playwright drives it; it downloads no browser), unless $$CHROMIUM names one
	command -v chromium >/dev/null || test -x "$$CHROMIUM" || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

export: $(INSTALLED)  ## notebooks -> package, cleaned notebooks, the reference pipeline into the package, README.md
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python -c "from mlops_nb.projects import sync_toolkit; sync_toolkit('.')"
	$(BIN)/jupyter nbconvert --log-level=ERROR --to markdown nbs/index.ipynb --output-dir . --output README

check-clean: export  ## fail when exporting or cleaning the notebooks changed a file
	git status --porcelain
	test -z "$$(git status --porcelain)"

lab: $(INSTALLED)  ## JupyterLab on the project
	$(BIN)/jupyter lab

bench: $(INSTALLED)  ## benchmarks against their peers (see bench/)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/features.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/score.py
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/leakage.py
	$(BIN)/python bench/calibration.py

clean-data:  ## remove everything generated under data/ (keeps data/raw)
	find data -mindepth 1 -maxdepth 1 ! -name raw -exec rm -rf {} +
