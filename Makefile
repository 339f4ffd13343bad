# vaelearn: two commands set up everything on a fresh machine.
#   make book   create .venv/, install everything, build the Jupyter Book (executing the lessons)
#               -> book/_build/html/index.html
#   make test   create/reuse .venv/, run the whole test suite: lint, unit tests, the lessons under
#               nbval on the NumPy and on the torch backend, and the book check (the book built from
#               the stored outputs, opened in headless Chromium)
# Other targets: make lessons (re-execute lessons, store NumPy outputs), make student (regenerate
# the student editions), make pdf (book as one PDF), make bench, make clean. `make help` lists them.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch is pinned here only (the package itself asks for a range): on the development machine
# this is a local CPU wheel, elsewhere the normal PyPI build.
TORCH  := torch==2.13.0
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# How every lesson runs (book, nbval, make lessons): figures inline, as stored; text progress bars
# (a stored widget would show its first frame); one thread, since the lessons' small models only
# lose when NumPy's and torch's thread pools compete for 2 cores (measured: up to 15x slower).
LESSON_ENV := MPLBACKEND=module://matplotlib_inline.backend_inline VAELEARN_PROGRESS=text \
              OMP_NUM_THREADS=1

# MathJax 3 is served from the book itself (no CDN): fetched once with npm into an ignored folder.
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := book/_mathjax
MATHJAX         := $(MATHJAX_DIR)/mathjax/tex-chtml.js

# The book built from the lessons' stored outputs (no execution) for the browser test. Both
# builds start from scratch (--all, old pages removed) so that every warning is reported again.
STORED_DIR    := build/book-stored
STORED_CONFIG := build/_config_stored.yml
BOOK_FLAGS    := -W -n --keep-going --all
PDF           := book/_build/pdf/vaelearn-book.pdf

NBVAL := $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         -p no:cacheprovider lessons/
# pytest exits 5 when it collects nothing (e.g. no lesson yet): not a failure for these stages.
OK_IF_EMPTY := || [ $$? -eq 5 ]

# Student and instructor editions (the block at the end of this file).
ALL_LESSONS  := $(wildcard lessons/[0-9][0-9]_*.ipynb)
STUDENT_DIR  := vaelearn/student_lessons
BOOK_LESSONS := build/book-lessons
EDITIONS     := $(PY) -m vaelearn.classroom.editions
LAB_OFF      := $(VENV)/.nbgrader-lab-off
NBGRADER_SERVER := formgrader validate_assignment assignment_list course_list

.PHONY: all help venv book book-stored book-check test unit nbval nbval-numpy nbval-torch lint \
        lessons pdf bench clean student student-check book-lessons instructor-lab

all: test

help:
	@sed -n '1,9p' Makefile | sed 's/^# \{0,1\}//'

venv: $(STAMP) $(LAB_OFF)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[all]"
	touch $(STAMP)

$(MATHJAX):
	command -v npm >/dev/null || { echo "make book needs npm to fetch MathJax $(MATHJAX_VERSION)"; exit 1; }
	rm -rf $(MATHJAX_DIR)/tmp $(MATHJAX_DIR)/mathjax
	mkdir -p $(MATHJAX_DIR)/tmp $(MATHJAX_DIR)/mathjax/output
	cd $(MATHJAX_DIR)/tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf $(MATHJAX_DIR)/tmp/mathjax-$(MATHJAX_VERSION).tgz -C $(MATHJAX_DIR)/tmp
	# the CommonHTML build, the TeX extensions it autoloads, its fonts, menu and accessibility
	cd $(MATHJAX_DIR)/tmp/package/es5 && cp -r tex-chtml.js input ui a11y sre adaptors \
	    ../../../mathjax/ && cp -r output/chtml output/chtml.js ../../../mathjax/output/
	cp $(MATHJAX_DIR)/tmp/package/LICENSE $(MATHJAX_DIR)/mathjax/
	rm -rf $(MATHJAX_DIR)/tmp
	test -f $@

# Build the book, executing every lesson with the NumPy backend in a temporary folder; the
# checksums prove that building the book never writes into lessons/.
book: $(STAMP) $(LAB_OFF) $(MATHJAX) book-lessons
	@mkdir -p build && find lessons -type f | sort | xargs -r sha256sum > build/lessons.sha256
	rm -rf book/_build/html book/_build/.doctrees
	$(LESSON_ENV) VAELEARN_BACKEND=numpy $(VENV)/bin/jupyter-book build $(BOOK_FLAGS) book/
	@find lessons -type f | sort | xargs -r sha256sum | cmp -s - build/lessons.sha256 \
	    || { echo "error: building the book modified lessons/"; exit 1; }
	@echo "The book: book/_build/html/index.html"

# The same book from the stored outputs (nbval has already re-run them), into its own folder.
book-stored: $(STAMP) $(MATHJAX) book-lessons
	mkdir -p build
	sed -e 's/^  execute_notebooks: force/  execute_notebooks: "off"/' \
	    -e 's#^    vaelearn_book: _ext#    vaelearn_book: $(CURDIR)/book/_ext#' \
	    book/_config.yml > $(STORED_CONFIG)
	grep -q 'execute_notebooks: "off"' $(STORED_CONFIG)
	rm -rf $(STORED_DIR)
	$(VENV)/bin/jupyter-book build $(BOOK_FLAGS) --config $(STORED_CONFIG) \
	    --path-output $(STORED_DIR) book/

book-check: book-stored
	VAELEARN_BOOK_HTML=$(STORED_DIR)/_build/html $(PY) -m pytest -p no:cacheprovider tests/test_book.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests --ignore=tests/test_book.py

nbval-numpy: $(STAMP)
	$(LESSON_ENV) VAELEARN_BACKEND=numpy $(NBVAL) $(OK_IF_EMPTY)

nbval-torch: $(STAMP)
	$(LESSON_ENV) VAELEARN_BACKEND=torch VAELEARN_DEVICE=cpu $(NBVAL) $(OK_IF_EMPTY)

nbval: nbval-numpy nbval-torch

test: lint unit nbval book-check

# Re-execute every lesson (or LESSONS=lessons/0X_*.ipynb) top to bottom in a fresh kernel with the
# NumPy backend and store the outputs with clean metadata.
LESSONS ?= $(wildcard lessons/[0-9][0-9]_*.ipynb)
lessons: $(STAMP)
	$(LESSON_ENV) VAELEARN_BACKEND=numpy $(PY) -m vaelearn.notebooks execute $(LESSONS)

# The book as one PDF: every page of the built book printed by headless Chromium, in reading order.
pdf: $(STAMP)
	test -f book/_build/html/index.html || $(MAKE) book
	$(PY) book/_tools/print_pdf.py book/_build/html $(PDF)

bench: $(STAMP)
	$(VENV)/bin/vaelearn bench

clean:
	rm -rf book/_build build .pytest_cache

# --- Student and instructor editions ---------------------------------------------------------
# lessons/ holds the instructors' sources (solutions, hidden tests, MyST markup). Students meet
# generated editions only (vaelearn/classroom/editions.py):
#   vaelearn/student_lessons/  the student edition: nbgrader's release + plain Markdown citations
#                  and equation numbers + a first cell that installs vaelearn on Colab. Committed:
#                  the book's Colab/Binder buttons open these files on GitHub, and the wheel ships
#                  them (`vaelearn lessons DIR`). tests/test_student.py fails when they are stale:
#                  after editing a lesson, run `make student` and commit the result.
#   build/book-lessons/        the book edition (exercise stubs, solutions in collapsed toggles,
#                  no hidden tests); book/lessons is a committed symlink to it.
student: $(STAMP)
	$(EDITIONS) student $(ALL_LESSONS) --out $(STUDENT_DIR)

student-check: $(STAMP)
	$(EDITIONS) check $(ALL_LESSONS) --out $(STUDENT_DIR)

book-lessons: $(STAMP)
	rm -rf $(BOOK_LESSONS)
	$(EDITIONS) book $(ALL_LESSONS) --out $(BOOK_LESSONS)

# Students' Jupyter shows no instructor tooling: nbgrader's JupyterLab extensions (the Create
# Assignment / Validate menus) and its server extension are switched off in .venv, which is the
# JupyterLab the README starts. Instructors switch them on with `make instructor-lab`. (Binder and
# `pip install "vaelearn[lab]"` have no nbgrader at all: it is only in the 'classroom' extra.)
$(LAB_OFF): $(STAMP)
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	for m in $(NBGRADER_SERVER); do \
	    $(VENV)/bin/jupyter server extension disable --sys-prefix nbgrader.server_extensions.$$m \
	        >/dev/null 2>&1 || exit 1; done
	touch $@

# the unit tests check the switch (tests/test_student.py), so `make test` applies it first
unit: $(LAB_OFF)

instructor-lab: $(STAMP)
	$(VENV)/bin/jupyter labextension unlock --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	$(VENV)/bin/jupyter labextension enable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
	for m in $(NBGRADER_SERVER); do \
	    $(VENV)/bin/jupyter server extension enable --sys-prefix nbgrader.server_extensions.$$m \
	        >/dev/null 2>&1 || exit 1; done
	rm -f $(LAB_OFF)
	@echo "nbgrader's JupyterLab menus are on in .venv (make venv switches them off again)"
