# The two commands: `make run` and `make test`. Everything else is a helper.
# The newest suitable Python: `python3` when it is 3.11 or newer, else python3.13,
# python3.12 or python3.11 (any of 3.11–3.13 works). `make run PYTHON=/path/to/python3.12`
# picks one by hand.
PYTHON ?= $(shell for c in python3 python3.13 python3.12 python3.11; do \
	$$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$c; break; }; \
	done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-night fuzz chat migrate lint typecheck bench catalogs vendor clean

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "No Python 3.11 or newer found (tried python3, python3.13, python3.12, python3.11)."; \
	  echo "Install one, e.g. 'apt-get install python3 python3-venv' on Debian 12+ or Ubuntu 24.04,"; \
	  echo "or name it: make run PYTHON=/path/to/python3.12"; exit 1; fi
	@$(PYTHON) -m venv $(VENV) || { echo "'$(PYTHON) -m venv' failed: install the venv module" \
	  "(Debian/Ubuntu: apt-get install python3-venv) and run make again."; rm -rf $(VENV); exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)  ## set up and serve on http://127.0.0.1:8000 with SQLite
	$(BIN)/klokot-bot serve

chat: $(STAMP)  ## talk to the bot in this terminal, on the same database
	$(BIN)/klokot-bot chat

migrate: $(STAMP)
	$(BIN)/klokot-bot migrate

test: $(STAMP)  ## set up and run the tests (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest

# The tests marked `clock` (their outcome depends on the time of day) again, with
# the machine's wall clock moved to 02:30 and to 23:30 in Klokot, on SQLite.
test-night: $(STAMP)  ## the time-of-day tests again at 02:30 and 23:30 Klokot time
	env -u TEST_DATABASE_URL KLOKOT_TEST_CLOCK=02:30 $(BIN)/python -m pytest -m clock -q
	env -u TEST_DATABASE_URL KLOKOT_TEST_CLOCK=23:30 $(BIN)/python -m pytest -m clock -q

fuzz: $(STAMP)  ## 10,000 mutated, correctly signed webhook bodies through the real app
	WEBHOOK_FUZZ_PROFILE=webhooks-fuzz $(BIN)/python -m pytest -q -s -p no:cacheprovider \
		tests/channels/test_webhook_fuzz.py

lint: $(STAMP)  ## ruff, mypy, and the import contracts of docs/architecture.md
	$(BIN)/ruff check bot handlers tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

typecheck: lint

bench: $(STAMP)  ## benchmarks: timings live here, never in tests
	$(BIN)/pip install --quiet -e ".[test,bench]"
	$(BIN)/python -m bench

catalogs: $(STAMP)  ## regenerate locales/messages.pot from the English catalog
	$(BIN)/python -m bot.i18n_tools

vendor:  ## refresh the vendored map scripts (Leaflet) from npm, pinned in the script
	scripts/vendor-static.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
