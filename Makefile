# newswatch: `make run` (install, init the warehouse, start the daemon), `make test` and `make lint`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: run test test-dates lint install install-test init ingest bench clean

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

# Two workers: much of the suite waits on loopback servers, subprocesses and the browser, so on
# 2 cores it takes about 5 minutes instead of 7.5 (`$(BIN)/python -m pytest` runs it serially).
test: install-test
	$(BIN)/python -m pytest -n 2

# ruff (rules and format) over the code, the tests and the benchmarks; mypy over pipeline/ (the
# files and strictness are in pyproject.toml).
lint: install-test
	$(BIN)/ruff check pipeline tests bench
	$(BIN)/ruff format --check pipeline tests bench
	$(BIN)/mypy

# The suite at three clocks: an ordinary day, the last half hour of ISO week 2026-W53 (the
# last day of a year) and the first hour of 2027-W01. No test may depend on today's date.
# --exclude-monotonic: only the calendar moves; with a faked monotonic clock libfaketime makes
# every timed wait in Python (Event.wait, Lock.acquire(timeout=...)) wait forever.
DATES := 2027-03-15 10:00:00|2026-12-31 23:30:00|2027-01-04 00:10:00
test-dates: install-test
	@command -v faketime >/dev/null || { echo "make test-dates needs faketime: apt-get install faketime"; exit 1; }
	@dates='$(DATES)'; IFS='|'; for when in $$dates; do \
		echo "== make test-dates: the suite at $$when"; \
		faketime --exclude-monotonic "$$when" $(BIN)/python -m pytest -q -n 2 || { echo "== make test-dates: FAILED at $$when"; exit 1; }; \
	done; echo "== make test-dates: passed at all three clocks"

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
	$(BIN)/python bench/backfill.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
