# One target per user action. `make book` and `make test` are the two set-up commands.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No wheel cache: the CUDA build of torch is ~3 GB of wheels that a cache would keep twice.
PIP := $(BIN)/python -m pip install -q --no-cache-dir
PROFILE ?= cpu
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
CHAPTERS := $(patsubst notebooks/%,book/chapters/%,$(NOTEBOOKS))
PAPERMILL := $(BIN)/papermill --cwd notebooks -k python3 --no-progress-bar
export PYTHONHASHSEED := 0
export MPLCONFIGDIR := $(CURDIR)/.venv/mplconfig

.PHONY: help venv test unit nbval book chapters html check-html notebooks bench clean

help:
	@echo "make book            execute every notebook at PROFILE=$(PROFILE) into book/chapters/ and build _build/html"
	@echo "make test            unit tests, nbval over notebooks/, book build (-W) and headless-browser check"
	@echo "make notebooks       re-execute notebooks/ at the smoke profile (refreshes nbval outputs)"
	@echo "make html            build _build/html from the committed chapters only"
	@echo "make bench           run benchmarks/"

# (Re)create the virtual environment when it is missing or requirements changed.
$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-test.txt
	$(PIP) --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

unit: $(STAMP)
	$(BIN)/python -m pytest tests -m "not browser" -q

nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q notebooks

html: $(STAMP)
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(BIN)/jupyter-book build -W -n --keep-going --all .

check-html: $(STAMP)
	$(BIN)/python -m pytest tests/test_book_render.py -m browser -q

# Tests train into a fresh runs folder (unit tests and nbval share it), never into runs/.
test: export CSR_RUNS_DIR := $(CURDIR)/_build/test-runs
test:
	rm -rf _build/test-runs
	$(MAKE) unit nbval html check-html

# Execute each notebook at PROFILE into its chapter copy (papermill does the executing, the
# book build only renders), then build the HTML.
chapters: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	  out=book/chapters/$$(basename $$nb); \
	  echo "papermill $$nb -> $$out (profile=$(PROFILE))"; \
	  start=$$(date +%s); \
	  $(PAPERMILL) $$nb $$out -p profile $(PROFILE); \
	  echo "  $$(( $$(date +%s) - start )) s"; \
	done

book: chapters html

notebooks: $(STAMP)
	@for nb in $(NOTEBOOKS); do \
	  echo "papermill $$nb (smoke, in place)"; \
	  $(PAPERMILL) $$nb $$nb -p profile smoke; \
	done

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf _build .pytest_cache
