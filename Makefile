# The README's two commands are `make demo` and `make test`; both install first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast bench dashboards prefect-server clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $(STAMP)

demo: install
	$(BIN)/touchpulse demo

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest tests/unit

bench: install
	$(BIN)/touchpulse bench

dashboards: install
	$(BIN)/touchpulse dashboards build --out infra/grafana/dashboards

clean:
	rm -rf $(VENV) .touchpulse .pytest_cache
