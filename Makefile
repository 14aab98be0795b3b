# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint schema env-example bench clean web web-test http-audit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# The web client: built when Node.js is present (the API serves web/dist at /).
WEB_STAMP := web/node_modules/.installed
$(WEB_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

web: $(WEB_STAMP)
	cd web && npm run build --silent

web-test: $(WEB_STAMP)
	cd web && npm test --silent

## run: API + worker + GraphiQL on http://127.0.0.1:8000 (offline provider unless OPENAI_API_KEY is set)
run: install fonts
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory web; \
	else echo "npm not found: the API runs without the web client (GraphiQL still works)"; fi
	$(BIN)/churns-gql dev

## fonts: the faces offline text repair matches old lettering against, as the Docker image installs them
.PHONY: fonts
fonts:
	@test -f /usr/share/fonts/truetype/liberation/LiberationSerif-Italic.ttf \
		-a -f /usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf || \
	{ command -v apt-get >/dev/null && apt-get update -qq \
		&& apt-get install -y -qq fonts-dejavu-core fonts-dejavu-extra fonts-liberation; } || \
	echo "fonts-dejavu-extra and fonts-liberation are missing: text repair will match fewer faces"

## browser: Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser)
.PHONY: browser
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

# graphql-http's GraphQL-over-HTTP audit (tests/test_graphql_http.py runs it against a live server).
AUDIT_STAMP := tests/http-audit/node_modules/.installed
$(AUDIT_STAMP): tests/http-audit/package-lock.json
	cd tests/http-audit && npm ci --no-audit --no-fund --loglevel=error
	touch $(AUDIT_STAMP)

http-audit: $(AUDIT_STAMP)

## test: the whole suite against the local Postgres and Redis (own database, own Redis db)
test: install fonts browser web-test web http-audit
	$(BIN)/python -m pytest -q

## lint: ruff and mypy alone (the test suite runs both too, in tests/test_lint.py)
lint: install
	$(BIN)/ruff check churns_gql tests bench
	$(BIN)/ruff format --check churns_gql tests bench
	$(BIN)/mypy

## schema: re-export schema.graphql from the served schema
schema: install
	$(BIN)/churns-gql export-schema > schema.graphql

# .env.example is written from the Settings model (churns_gql/config.py); tests/test_config.py keeps them equal.
env-example: install
	$(BIN)/python -m churns_gql.env_example > .env.example

## bench: scenarios P1-P8 against floors and peers measured in the same run; own server, worker, database
## (churns_bench) and Redis db 14; prints one table and writes bench/results/latest.json (see bench/README.md)
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## soak: 10 minutes (SOAK_MINUTES=…) of mixed load while the API, worker, Redis and Postgres are killed and
## restarted and the disk fills once; prints a table of faults and invariants (throwaway servers, own data dir)
.PHONY: soak
SOAK_MINUTES ?= 10
soak: install
	$(BIN)/python -m tests.soak --minutes $(SOAK_MINUTES)
