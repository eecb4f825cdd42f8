# chargebay — the two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate and start the whole stack (CSMS on :9000, REST on :8000, SQLite in ./var)
run: $(STAMP)
	$(BIN)/chargebay serve --demo

## make test: install and run the whole suite
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## make bench: the central system load benchmark (prints calls/s, latency, CPU, RSS)
bench: $(STAMP)
	$(BIN)/python bench/csms_load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
