# vaelearn: two commands set up everything on a fresh machine.
#   make book   create .venv/, install everything, build the Jupyter Book (executing the lessons)
#               -> book/_build/html/index.html
#   make test   create/reuse .venv/, run the whole test suite: lint, unit tests, the lessons under
#               nbval on the NumPy and on the torch backend, on other OpenBLAS kernels and on two
#               threads, and the book check (the book `make book` builds, opened in headless Chromium)
# Other targets: make lessons (re-execute lessons, store NumPy outputs), make student (regenerate
# the student editions), make pdf (book as one PDF), make bench, make bench-threads, make clean.
# `make help` lists them.

# bash: pipefail and process substitution for the kernel-warning filter below
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch is pinned here only (the package itself asks for a range): on the development machine
# this is a local CPU wheel, elsewhere the normal PyPI build.
TORCH  := torch==2.13.0
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# How every lesson runs (book, nbval, make lessons): figures inline, as stored; progress as one
# text line per training run, its final state (a stored widget would show its first frame, and
# every redraw of a live bar is a separate output box in the executed book); one thread, since the
# lessons' small models only lose when NumPy's and torch's thread pools compete for 2 cores
# (measured: up to 15x slower). vaelearn itself also defaults to one thread (vaelearn.threads).
LESSON_ENV := MPLBACKEND=module://matplotlib_inline.backend_inline VAELEARN_PROGRESS=final \
              OMP_NUM_THREADS=1

# The kernels that jupyter-book and nbval start are reached over TCP on 127.0.0.1 and ipykernel
# (>= 7) logs "Kernel is running over TCP without encryption ..." on every start: once per lesson.
# That is how these tools start every local kernel (messages are still HMAC-signed with the key in
# the connection file), not something vaelearn does or can change, so for these two commands only
# that exact line is dropped from stderr; everything else on stderr passes through.
NO_KERNEL_TCP_WARNING := 2> >(grep -v -F 'Kernel is running over TCP without encryption' >&2)

# MathJax 3 is served from the book itself (no CDN): fetched once with npm into an ignored folder.
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR     := book/_mathjax
MATHJAX         := $(MATHJAX_DIR)/mathjax/tex-chtml.js

# The book builds from scratch (--all, old pages removed) so that every warning is reported again.
BOOK_FLAGS    := -W -n --keep-going --all
BOOK_HTML     := book/_build/html
PDF           := book/_build/pdf/vaelearn-book.pdf

NBVAL := $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         -p no:cacheprovider lessons/ $(NO_KERNEL_TCP_WARNING)
# pytest exits 5 when it collects nothing (e.g. no lesson yet): not a failure for these stages.
OK_IF_EMPTY := || [ $$? -eq 5 ]

# Student and instructor editions (the block at the end of this file).
ALL_LESSONS  := $(wildcard lessons/[0-9][0-9]_*.ipynb)
STUDENT_DIR  := vaelearn/student_lessons
BOOK_LESSONS := build/book-lessons
EDITIONS     := $(PY) -m vaelearn.classroom.editions
LAB_OFF      := $(VENV)/.nbgrader-lab-off
NBGRADER_SERVER := formgrader validate_assignment assignment_list course_list

# The same lessons under nbval on the NumPy backend, on every OpenBLAS kernel this CPU can run
# (OPENBLAS_CORETYPE; numpy's and scipy's wheels ship OpenBLAS built for all of them) and once on
# two threads: a stored output that depends on floating-point round-off (the order of a reduction
# differs between kernels and thread counts) fails here on any machine, not only on another CPU.
# SkylakeX needs AVX-512, Haswell AVX2, Sandybridge AVX (x86 flags in /proc/cpuinfo); elsewhere
# (e.g. ARM) the list is empty and only the two-thread run remains. Override: make nbval-kernels
# OPENBLAS_KERNELS="Haswell". Cost, measured on a 2-core machine under heavy load from other
# jobs: 2-5 min per kernel run (as one nbval-numpy run there), 35 min for the two-thread run (two
# threads on a busy machine is the slow case that vaelearn's default of one thread avoids).
CPU_FLAGS        := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
OPENBLAS_KERNELS ?= $(strip $(if $(filter avx512f,$(CPU_FLAGS)),SkylakeX) \
                    $(if $(filter avx2,$(CPU_FLAGS)),Haswell) $(if $(filter avx,$(CPU_FLAGS)),Sandybridge))

.PHONY: all help venv book book-check test unit nbval nbval-numpy nbval-torch nbval-kernels \
        nbval-threads lint lessons pdf bench bench-threads clean student student-check book-lessons \
        instructor-lab

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
	rm -rf $(BOOK_HTML) book/_build/.doctrees
	$(LESSON_ENV) VAELEARN_BACKEND=numpy $(VENV)/bin/jupyter-book build $(BOOK_FLAGS) book/ \
	    $(NO_KERNEL_TCP_WARNING)
	@find lessons -type f | sort | xargs -r sha256sum | cmp -s - build/lessons.sha256 \
	    || { echo "error: building the book modified lessons/"; exit 1; }
	@echo "The book: $(BOOK_HTML)/index.html"

# The browser test of the book that `make book` builds (the one readers get, lessons executed):
# there is one book build, so what is tested is what is published.
book-check: book
	VAELEARN_BOOK_HTML=$(BOOK_HTML) $(PY) -m pytest -p no:cacheprovider tests/test_book.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider tests --ignore=tests/test_book.py

nbval-numpy: $(STAMP)
	$(LESSON_ENV) VAELEARN_BACKEND=numpy $(NBVAL) $(OK_IF_EMPTY)

nbval-torch: $(STAMP)
	$(LESSON_ENV) VAELEARN_BACKEND=torch VAELEARN_DEVICE=cpu $(NBVAL) $(OK_IF_EMPTY)

# One nbval run per kernel (see OPENBLAS_KERNELS above) except the one nbval-numpy already ran
# (OpenBLAS's own choice on this CPU); each checks first that OpenBLAS really runs the kernel
# (threadpoolctl reports it), so a silently ignored variable cannot pass.
nbval-kernels: $(STAMP)
	@for k in $(OPENBLAS_KERNELS); do \
	    if $(PY) -m vaelearn.threads --expect-openblas $$k >/dev/null 2>&1; then \
	        echo "== $$k: the kernel nbval-numpy runs here, not run again"; continue; \
	    fi; \
	    echo "== nbval, NumPy backend, OPENBLAS_CORETYPE=$$k"; \
	    OPENBLAS_CORETYPE=$$k $(PY) -m vaelearn.threads --expect-openblas $$k || exit 1; \
	    $(LESSON_ENV) OPENBLAS_CORETYPE=$$k VAELEARN_BACKEND=numpy $(NBVAL) $(OK_IF_EMPTY) \
	        || exit 1; \
	done

# Two threads: OMP_NUM_THREADS for the libraries and VAELEARN_NUM_THREADS, since vaelearn
# otherwise sets one thread itself (vaelearn.threads).
nbval-threads: $(STAMP)
	$(LESSON_ENV) OMP_NUM_THREADS=2 VAELEARN_NUM_THREADS=2 VAELEARN_BACKEND=numpy $(NBVAL) \
	    $(OK_IF_EMPTY)

nbval: nbval-numpy nbval-torch nbval-kernels nbval-threads

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

# vaelearn's own thread choice against OMP_NUM_THREADS=1, with one busy process beside it: the
# ratio of interleaved 20-epoch `vaelearn train --data digits` runs (a measurement, not a test).
bench-threads: $(STAMP)
	$(PY) benchmarks/threads.py

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
