# newswatch: `make run` (install, init the warehouse, start the daemon) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: run test install install-test init ingest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned in pyproject.toml (2.13.0, CPU wheel); installing it first keeps pip from
# ever considering another build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet 'torch==2.13.0'
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

init: install
	$(BIN)/newswatch init

run: init
	$(BIN)/newswatch run

ingest: init
	$(BIN)/newswatch ingest

test: install-test
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/extract_eval.py
	$(BIN)/python bench/dedup_eval.py
	$(BIN)/python bench/story_eval.py
	$(BIN)/python bench/dedup_scale.py
	$(BIN)/python bench/topics_eval.py
	$(BIN)/python bench/embed_parity.py
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
