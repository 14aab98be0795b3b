# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install schema bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## run: API + worker + GraphiQL on http://127.0.0.1:8000 (offline provider unless OPENAI_API_KEY is set)
run: install
	$(BIN)/churns-gql dev

## test: the whole suite against the local Postgres and Redis (own database, own Redis db)
test: install
	$(BIN)/python -m pytest -q

## schema: re-export schema.graphql from the served schema
schema: install
	$(BIN)/churns-gql export-schema > schema.graphql

clean:
	rm -rf $(VENV) .pytest_cache
