# The README's two commands are `make serve` and `make test`; .ci/run calls `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: install serve test bench clean

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

# The demo API on 127.0.0.1:6543 (memory cache, SQLite accounts beside development.ini).
serve: $(STAMP)
	$(BIN)/pserve development.ini

# The whole suite; Redis and PostgreSQL tests skip (with the reason) where the
# servers are unreachable, unless AUTHSUITE_REQUIRE_SERVICES=1.
test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache authsuite.sqlite
