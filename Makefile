# Everything a fresh machine with only Python 3.11+ needs: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GraphiQL and React for the schema explorer: fetched from the npm registry with Python,
# checked against the hashes pinned in the manifest, kept in the environment.
EXPLORER := $(VENV)/.explorer-assets
EXPLORER_MANIFEST := gateway/edge/explorer_files/assets.toml

.PHONY: demo test lint typecheck unit schema bench bench-hostile clean

$(STAMP): pyproject.toml demo/pyproject.toml examples/fame-connector-example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./demo -e ./examples/fame-connector-example
	touch $(STAMP)

$(EXPLORER): $(STAMP) $(EXPLORER_MANIFEST)
	$(BIN)/fame-gateway explorer fetch
	touch $(EXPLORER)

demo: $(EXPLORER)
	$(BIN)/fame-gateway demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check gateway resolvers connectors demo bench tests examples
	$(BIN)/ruff format --check gateway resolvers connectors demo bench tests examples
	$(BIN)/fame-gateway schema --check schema.graphql

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(EXPLORER)
	$(BIN)/pytest $(PYTEST_ARGS)

# Needs PostgreSQL and MariaDB on 127.0.0.1 (FAME_BENCH_POSTGRES_URL / FAME_BENCH_MARIADB_URL
# override); with Node >= 20 and npm it also runs Hive Gateway (`npm ci` in bench/peers/hive,
# skipped, and said so, without them); writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python -m bench

# What hostile documents cost (RSS, latency, event-loop lag); writes its section of
# bench/RESULTS.md. Needs nothing but the demo's own agencies.
bench-hostile: $(STAMP)
	$(BIN)/python -m bench.hostile

schema: $(STAMP)
	$(BIN)/fame-gateway schema --write schema.graphql

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
