# vaelearn: two commands set up everything on a fresh machine.
#   make book   create .venv/, install everything, build the Jupyter Book (executing the lessons)
#   make test   create/reuse .venv/, run the whole test suite (unit, nbval x2 backends, book check)
# Other targets: make lessons (re-execute lessons and store NumPy outputs), make bench, make clean.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch is pinned here only (the package itself asks for a range): on the development machine
# this is a local CPU wheel, elsewhere the normal PyPI build.
TORCH  := torch==2.13.0
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

NBVAL := $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         -p no:cacheprovider lessons/

.PHONY: all venv book test unit nbval nbval-numpy nbval-torch lint lessons bench clean

all: test

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests

nbval-numpy: $(STAMP)
	VAELEARN_BACKEND=numpy $(NBVAL)

nbval-torch: $(STAMP)
	VAELEARN_BACKEND=torch VAELEARN_DEVICE=cpu $(NBVAL)

nbval: nbval-numpy nbval-torch

test: lint unit nbval

# Re-execute every lesson (or LESSONS=lessons/0X_*.ipynb) top to bottom in a fresh kernel with the
# NumPy backend and store the outputs with clean metadata.
LESSONS ?= $(wildcard lessons/*.ipynb)
lessons: $(STAMP)
	VAELEARN_BACKEND=numpy $(PY) -m vaelearn.notebooks execute $(LESSONS)

bench: $(STAMP)
	$(VENV)/bin/vaelearn bench

clean:
	rm -rf book/_build .pytest_cache
