# chargebay — the two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install bench lint clean

# npm ci: the dashboard's third-party JavaScript (package-lock.json), served from node_modules,
# and the third-party OCPP peer the tests run against (tests/peers: npm ocpp-rpc)
$(STAMP): pyproject.toml package-lock.json tests/peers/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate and start the whole stack (CSMS on :9000, REST on :8000, SQLite in ./var)
run: $(STAMP)
	CHARGEBAY_DATA_DIR=$${CHARGEBAY_DATA_DIR:-$(CURDIR)/var} $(BIN)/chargebay serve --demo

# The store-facing tests, run a second time on PostgreSQL (the whole suite twice would not fit
# CI's time budget; everything else is database-agnostic through the same code paths).
PG_TESTS ?= tests/csms tests/test_migrations.py tests/api/test_charge_points_api.py tests/api/test_charge_point_logs.py \
            tests/api/test_id_tags_api.py tests/api/test_transactions_api.py tests/api/test_out_of_range_input.py \
            tests/locker_sites/test_gateway_*.py tests/locker_sites/test_ids_never_reused.py \
            tests/api/integration_charges tests/test_topology.py \
            tests/test_bench.py::test_cluster_benchmark_runs_every_scenario tests/energy/test_load_groups_api.py \
            tests/api/test_alerts_api.py

# Tests wait on sockets and child processes far more than they compute: four workers on two
# cores take the suite from ~7 to ~2.5 minutes. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 4

## make test: install and run the whole suite on SQLite, then the store tests on PostgreSQL
## (CI installs and starts PostgreSQL and Redis from Debian packages first; locally the pass runs
## if a server is there, and the Redis tests start their own redis-server if it is installed)
test: $(STAMP)
	@$(MAKE) --no-print-directory lint
	@url=$$(scripts/services.sh url) || exit 1; \
	$(if $(PYTEST_ARGS),,CHARGEBAY_CHECK_ELSEWHERE=1) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS) || exit 1; \
	if [ -n "$$url" ]; then \
	  echo "== the store tests again, on PostgreSQL ($$url)"; \
	  CHARGEBAY_TEST_POSTGRES_URL=$$url $(BIN)/python -m pytest -q -n $(TEST_WORKERS) \
	    -p no:cacheprovider $(PG_TESTS); \
	else \
	  echo "== PostgreSQL pass SKIPPED: no server with login chargebay/chargebay on 127.0.0.1:5432"; \
	  echo "   (CI installs one: CHARGEBAY_CI=1 make test; see README, Tests)"; \
	fi

## make lint: the gates make test runs first (each must report zero findings): ruff, mypy (strict on the OCPP core, csms and the serial
## protocol), the import contracts and the size limits (modules <= 400 lines, classes <= 300)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/sizes.py

## make bench: the central system load benchmark (prints calls/s, latency, CPU, RSS)
bench: $(STAMP)
	$(BIN)/python bench/csms_load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
