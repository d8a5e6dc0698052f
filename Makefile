# The two front-door commands (see README): `make serve` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: serve test lint typecheck docs unit contract contract-slow bench reliability clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("cobalt-mock needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

serve: $(STAMP)
	$(BIN)/cobalt-mock serve $(ARGS)

test: $(STAMP) lint typecheck docs
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -n 2 --cobalt-slow $(ARGS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site (mkdocs.yml), built --strict into the git-ignored site/: a broken link, a
# missing include or a page left out of the nav fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

contract: $(STAMP)
	$(BIN)/python -m pytest contract_tests $(ARGS)

# The long contract run (docs/contract-suite.md): the live mode against every break of
# contract_tests/mutants.LIVE_BREAKS on five seeds, plus the tests marked slow; a few minutes.
contract-slow: $(STAMP)
	$(BIN)/python -m pytest contract_tests --cobalt-slow -n 2 $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# The long reliability runs (docs/reliability.md): 10,000 fetches at 64 connections, clean and with
# faults, a soak and a shutdown under load; minutes. Their small versions run in `make test`.
reliability: $(STAMP)
	$(BIN)/python -m bench.reliability --full $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov dist build site
