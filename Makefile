# Everything a fresh machine needs: Python 3.11 with venv; the test target installs OpenSSH's
# sshd with apt-get when it is missing and runs as root (as CI does).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo dev test test-slow test-all lint lint-types lint-layers-defs-sql format sshd browser clean docs bench bench-scaling bench-backfill bench-overhead bench-deliveries bench-ui ui-screenshots postgres redis services install-lake test-lake workers bench-scale

# Each virtualenv is filled by uv (PyPI's `uv`, put in the virtualenv by its own pip): it
# resolves, downloads and installs in parallel and compiles the bytecode on every core, where pip
# did one package after another on one core (the main virtualenv: 44-80 s with pip; the lake's,
# beside `make lint`, took a core from it). Its cache (~/.cache/uv) serves the lake's virtualenv
# what the main one already downloaded. The virtualenvs keep pip for anyone's own `pip install`.
# dbt's parse at install uses the vars `make demo` passes (its ASAPP hash; no warehouse path: the
# dbt process gets that in its environment), so the first dbt invocation of any warehouse finds the
# kept parse state valid (a run with other vars parses once)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode \
	  -e '.[test]'
	cd platform_assets/models/dbt_project && ../../../$(BIN)/dbt parse --quiet --profiles-dir . \
	  --vars '{"asapp_customer_id_hash": "md5"}'
	touch $(STAMP)

install: $(STAMP)

## make install-lake: the lake's own virtualenv (.venv-lake): DuckDB 1.5.5 with the DuckLake and
## PostgreSQL extension wheels, dagster-celery and Redis's client (pyproject's `lake`, `scale`)
LAKE_VENV ?= .venv-lake
LAKE_BIN  := $(LAKE_VENV)/bin
$(LAKE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LAKE_VENV)
	$(LAKE_BIN)/pip install --quiet uv
	$(LAKE_BIN)/uv pip install --quiet --python $(LAKE_BIN)/python \
	  --compile-bytecode -e '.[test,scale]'
	touch $@

install-lake: $(LAKE_VENV)/.installed

## make demo: embedded SFTP server + sample files of every vendor -> every partition -> DuckDB
## -> the dbt models (staging, identity, marts) and a summary of the marts
demo: install
	$(BIN)/python -m platform_assets.demo run

## make dev: the same embedded server, then Dagster's webserver + daemon on http://127.0.0.1:3000
dev: install
	$(BIN)/python -m platform_assets.demo dev

# Debian's packages the tests start on loopback, each with how to tell it is there; missing ones
# are installed with apt-get as root (CI), else named. `make services` installs every missing one
# with one apt-get (CI runs it beside `make lint`: apt and pip share nothing).
HAS_openssh-server = command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]
HAS_chromium       = [ -x /usr/bin/chromium ]
HAS_postgresql     = ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
HAS_redis-server   = command -v redis-server >/dev/null 2>&1
define apt_install
	@missing=""; \
	$(foreach pkg,$(1),if ! { $(HAS_$(pkg)); }; then missing="$$missing $(pkg)"; fi;) \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "$(2) need Debian's$$missing: apt-get install$$missing (or run as root)"; exit 1; \
	  fi; \
	fi
endef

## OpenSSH's sshd: every SFTP test's server
sshd:
	$(call apt_install,openssh-server,The tests)

## Debian's chromium for the browser tests (Playwright drives it; its own download is never used)
browser:
	$(call apt_install,chromium,The browser tests)

## Debian's redis-server: the Celery workers' broker (the scale-out test's fixture starts its own)
redis:
	$(call apt_install,redis-server,The scale-out tests)

## Debian's postgresql for the instance test on PostgreSQL storage (the fixture starts its own)
postgres:
	$(call apt_install,postgresql,The tests)

services:
	$(call apt_install,openssh-server chromium postgresql redis-server,The tests)

## make test: the fast lane (every test not marked slow) on one worker more than the cores (its
## tests wait on sshd, dbt and PostgreSQL: on 2 cores two workers kept them ~60% busy, 127 s;
## three 108 s; four 112 s), against real sshds on 127.0.0.1 (one per worker) and real DuckDB
## files; make test-slow: the slow lane (the daemon, the browser, kills, the demo on more days)
## on three workers (its tests wait on daemons and time-outs: two kept 2 cores ~60% busy), its
## files split into as many groups, the longest as short as can be (SLOW_LANE_SECONDS in
## conftest.py), then the long-link test alone (it times two clients against each other: beside
## another worker's tests its 20 ms uploads measured the shared cores, not the link, and flaked
## in CI); make test-all: both (CI)
LONG_LINK = platform_assets_tests/system/test_long_link.py
FAST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: install sshd browser postgres
	$(BIN)/python -m pytest -m "not slow and not lake" -n $(FAST_WORKERS) --dist loadfile

test-slow: install sshd browser postgres
	$(BIN)/python -m pytest -m "slow and not lake" -n 3 --dist loadgroup \
	  --deselect $(LONG_LINK) --durations=5
	$(BIN)/python -m pytest $(LONG_LINK)

## make test-lake [LAKE_WAREHOUSES=ducklake]: in .venv-lake, the backend-parametrized tests on a
## DuckLake (its catalog in a PostgreSQL the fixtures start; `make test` runs them on the DuckDB
## file: LAKE_WAREHOUSES=duckdb,ducklake runs both here) and the scale-out test (Celery workers,
## Redis, the lake, started first: the lane's longest) on three workers (a lake test waits on its
## catalog's round trips: 499 s on 2 cores, 629 s on two workers); CI runs it after test-slow
LAKE_WAREHOUSES ?= ducklake
test-lake: install-lake sshd postgres redis
	PLATFORM_TEST_WAREHOUSES=$(LAKE_WAREHOUSES) $(LAKE_BIN)/python -m pytest -m "backends or lake" \
	  -n 3 --dist loadfile --durations=5

test-all: test test-slow test-lake

## make workers [WORKERS=2]: Celery workers for PLATFORM_EXECUTOR=celery runs (dagster-celery's
## worker; docs/deploy.md): the broker, instance and lake of this environment; logs in data/workers
WORKERS ?= 2
workers: install-lake
	$(LAKE_BIN)/python -m platform_assets.workers --count $(WORKERS)

## make ui-screenshots: the browser test, saving its screenshots to docs/ui (docs/operations.md's)
ui-screenshots: install sshd browser
	PLATFORM_UI_SCREENSHOTS=docs/ui $(BIN)/python -m pytest platform_assets_tests/system/test_ui.py

## make lint: ruff (style, imports, 100 columns), mypy (types), import-linter (what may import
## what: pyproject's [tool.importlinter]), `dg check defs` (the definitions load and validate) and
## sqlfluff (the models' SQL, templated by dbt: models/dbt_project/.sqlfluff; a lint-only PII key,
## an in-memory warehouse: templating opens dbt's connection, never the demo's file). mypy (~27 s
## on one core with a fresh clone's cold cache) runs beside the other three (~13 s), each side's
## output printed together
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint-types lint-layers-defs-sql

lint-types: install
	$(BIN)/mypy

lint-layers-defs-sql: install
	$(BIN)/lint-imports --no-cache
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs
	cd platform_assets/models/dbt_project && PLATFORM_PII_KEY=lint-only-key-not-a-secret \
	  PLATFORM_DBT_WAREHOUSE=:memory: ../../../$(BIN)/sqlfluff lint models tests --nocolor

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf data .pytest_cache .ruff_cache

## make docs: regenerate docs/tables.md (from the specs) and docs/configuration.md (the settings)
docs: install
	$(BIN)/python -m platform_assets.docs

## make bench: 1 GB from SFTP to DuckDB, platform vs floor vs dlt (figures + results/latest.json)
bench: install .venv-dlt/.installed
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/long_link.py

## make bench-scaling: 250 MB, 1 GB and 2 GB (results/scaling.json)
bench-scaling: install .venv-dlt/.installed
	$(BIN)/python benchmarks/bench.py --scaling

## make bench-deliveries: a 2M-row ASAPP feed written, checked and uploaded vs a plain COPY
bench-deliveries: install sshd
	$(BIN)/python benchmarks/deliveries.py

## make bench-overhead: the demo's path for 7 and 30 days: stage times, dbt invocations and parse
## time, runs, and wall time over the loads' own DuckDB work (results/overhead-<days>d.json)
bench-overhead: install
	$(BIN)/python benchmarks/overhead.py --days 7
	$(BIN)/python benchmarks/overhead.py --days 30

## make bench-scale: a 30-day backfill of every table: the embedded default vs DuckLake in-process
## and on 1, 2, 4 Celery workers (wall, rows/s, peak memory per worker, conflict retries)
bench-scale: install-lake sshd postgres redis
	$(LAKE_BIN)/python benchmarks/scale.py

## make bench-ui: click-to-done on make dev: one partition (5 launches) and a 3-day backfill
bench-ui: install
	$(BIN)/python benchmarks/ui_launch.py

## make bench-backfill: 90 days x every demo table at 100k rows: range runs vs one run per day
bench-backfill: install
	$(BIN)/python benchmarks/backfill.py

# dlt, the peer, in its own virtualenv: never a dependency of the platform
.venv-dlt/.installed: benchmarks/requirements-dlt.txt
	$(PYTHON) -m venv .venv-dlt
	.venv-dlt/bin/pip install --quiet -r benchmarks/requirements-dlt.txt
	touch $@
