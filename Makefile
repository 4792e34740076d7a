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
# No progress bars in executed notebooks, nbval or the tests (csr.progress); make book CSR_PROGRESS=terminal
# shows them on the terminal without putting them into the chapters.
export CSR_PROGRESS ?= 0
export MPLCONFIGDIR := $(CURDIR)/.venv/mplconfig
# Notebooks whose outputs nbval checks are executed and checked on pinned CPU kernels
# (csr.utils.PORTABLE_KERNELS_ENV, which a test keeps equal to this line): without them an
# AVX-512 host and an AVX2 host train different smoke models from the same seed.
PORTABLE := CSR_PORTABLE_KERNELS=1 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=COMPATIBLE,STRICT ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell

.PHONY: print-portable help venv test unit nbval nbval-1thread book chapters html check-html notebooks bench clean

help:
	@echo "make book            execute every notebook at PROFILE=$(PROFILE) into book/chapters/ and build _build/html"
	@echo "make test            unit tests and csr/ doctests, nbval over notebooks/, book build (-W) and headless-browser check"
	@echo "make nbval-1thread   nbval again under OMP_NUM_THREADS=1 in fresh runs (checked outputs must not depend on threads)"
	@echo "make notebooks       re-execute notebooks/ at the smoke profile (refreshes nbval outputs)"
	@echo "make html            build _build/html from the committed chapters only"
	@echo "make bench           run benchmarks/"

# The pinned-kernel variables, for running nbval or papermill by hand: env $$(make -s print-portable) …
print-portable:
	@echo $(PORTABLE)

# (Re)create the virtual environment when it is missing or requirements changed.
$(STAMP): requirements.txt requirements-test.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-test.txt
	$(PIP) --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Unit tests and the doctests of csr/, with the 10 slowest tests listed (the check of what the
# notebooks leave behind runs in `make nbval`, after them).
unit: $(STAMP)
	$(BIN)/python -m pytest tests csr --doctest-modules -m "not browser" -q --durations=10 \
	  --deselect tests/test_notebooks.py::test_notebook_evaluations_are_files_next_to_runs

# nbval is the one execution of each notebook in `make test`; the test after them checks the
# evaluations they left in the runs folder.
nbval: $(STAMP)
	env $(PORTABLE) $(BIN)/python -m pytest --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q \
	  notebooks tests/test_notebooks.py::test_notebook_evaluations_are_files_next_to_runs

# The same check on one thread, training afresh (a runs folder of its own, so no cached run
# trained on more threads is reused): the checked outputs must not depend on the thread count.
nbval-1thread: export CSR_RUNS_DIR := $(CURDIR)/_build/test-runs-1thread
nbval-1thread: export OMP_NUM_THREADS := 1
nbval-1thread: export MKL_NUM_THREADS := 1
nbval-1thread:
	rm -rf _build/test-runs-1thread
	$(MAKE) nbval

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
	@echo "papermill notebooks/your_cost_matrix.ipynb -> book/chapters/your_cost_matrix_small_large.ipynb (second matrix)"
	$(PAPERMILL) notebooks/your_cost_matrix.ipynb book/chapters/your_cost_matrix_small_large.ipynb -p profile $(PROFILE) \
	  -p cost_matrix mnist_small_large

book: chapters html

# Fresh runs, so that no run trained on other kernels is reused.
notebooks: export CSR_RUNS_DIR := $(CURDIR)/_build/notebook-runs
notebooks: $(STAMP)
	rm -rf _build/notebook-runs
	@for nb in $(NOTEBOOKS); do \
	  echo "papermill $$nb (smoke, in place)"; \
	  env $(PORTABLE) $(PAPERMILL) $$nb $$nb -p profile smoke; \
	done

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf _build .pytest_cache
