# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8501
API_PORT ?= 8000

.PHONY: run test api worker lint bench install install-dev browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the end-to-end tests (no browser downloads are possible here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: install
	$(VENV)/bin/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

test: install-dev browser
	$(PY) -m pytest

api: install
	$(PY) -m chatkit api --port $(API_PORT)

worker: install
	$(PY) -m chatkit worker

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
