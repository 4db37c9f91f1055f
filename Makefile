# The README's two commands are `make serve` and `make test`; .ci/run calls `make test`.
# Both may be started at the same time on a fresh checkout: the virtualenv is
# built once, under a lock, and a build that was interrupted is started again
# from scratch instead of leaving a half-made .venv behind.
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= test,bench
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
LOCK = $(VENV).lock

.PHONY: install serve test bench clean

# Under flock(1): the second of two concurrent makes waits, then finds the
# stamp fresh and does nothing. Without a stamp the venv is (re)made with
# --clear; with an older stamp (setup.cfg changed) only pip runs again.
$(STAMP): setup.cfg setup.py
	@flock "$(LOCK)" sh -ec '\
	  if [ -f "$(STAMP)" ] && [ "$(STAMP)" -nt setup.cfg ] && [ "$(STAMP)" -nt setup.py ]; then exit 0; fi; \
	  if [ ! -f "$(STAMP)" ]; then \
	    echo "creating $(VENV)"; \
	    $(PYTHON) -m venv --clear "$(VENV)"; \
	    "$(BIN)/python" -m pip install --quiet --upgrade pip; \
	  fi; \
	  echo "installing pyramid_authsuite[$(EXTRAS)] into $(VENV)"; \
	  "$(BIN)/python" -m pip install --quiet -e ".[$(EXTRAS)]"; \
	  touch "$(STAMP)"'

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

# Build products only: the demo's accounts and server secret (authsuite.sqlite)
# are data and stay; delete that file yourself to start the demo afresh.
clean:
	rm -rf $(VENV) $(LOCK) *.egg-info .pytest_cache
