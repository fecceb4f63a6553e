# racecramp: `make demo` and `make test` work on a fresh machine with only python3.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: demo test check bench setup chromium clean-data data

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q "uv==$(UV_VERSION)"

# Reproducible install: exact versions from requirements.lock, then the project itself.
$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(UV) pip sync --python $(BIN)/python requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Browser tests drive Debian's Chromium (playwright cannot download browsers here).
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
		echo "installing Debian chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "chromium is missing: run 'sudo apt-get install chromium' (the browser tests need it)"; exit 1; \
	fi

# Everything: the tests without servers on two workers, then the live stacks and the browser
# one at a time (two live stacks at once on two cores miss their deadlines).
test: $(STAMP) chromium
	$(BIN)/pytest $(CHECK_ARGS)
	$(BIN)/pytest -q -m "integration or e2e" --durations=25

# The inner loop: every test that starts no server and no browser.
CHECK_ARGS := -q -n 2 -m "not integration and not e2e"
check: $(STAMP)
	$(BIN)/pytest $(CHECK_ARGS)

demo: $(STAMP)
	$(BIN)/racecramp demo

bench: $(STAMP)
	$(BIN)/python bench/marts_bench.py && $(BIN)/python bench/dashboard_bench.py && $(BIN)/python bench/latency.py && $(BIN)/python bench/season_bench.py

# Rebuild data/ from ../shared/realdata (maintainers only; data/ is committed).
data: $(STAMP)
	$(BIN)/python scripts/build_demo_data.py

clean-data:
	rm -rf var

# docs/warehouse.md is generated from the registries (a test checks it is up to date).
docs: $(STAMP)
	$(BIN)/python -m racecramp.warehouse.docs > docs/warehouse.md
