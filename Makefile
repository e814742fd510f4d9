# The README's two commands are `make demo` and `make test`; both install first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser demo test test-fast bench dashboards prefect-server clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,fuzz]"
	@$(MAKE) --no-print-directory browser
	@touch $(STAMP)

# Debian's Chromium renders the daily report in the browser test; installed when we are root.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report's browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium not installed (needs root): the browser test will be skipped"; fi; }

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

PREFECT_PORT ?= 4200
# A local Prefect server for `touchpulse flow serve` (scheduling needs one).
prefect-server: install
	@mkdir -p $(or $(TOUCHPULSE_HOME),.touchpulse)/prefect
	@echo "Prefect server on http://127.0.0.1:$(PREFECT_PORT); in another shell: PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/touchpulse flow serve"
	PREFECT_HOME=$${PREFECT_HOME:-$(abspath $(or $(TOUCHPULSE_HOME),.touchpulse))/prefect} PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT)

clean:
	rm -rf $(VENV) .touchpulse .pytest_cache
